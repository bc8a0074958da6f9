// Package capture gets H.264 access units out of a camera, or out of
// something that stands in for one, each stamped with its capture time.
//
// Three sources implement Source: V4L2 (the Pi camera's bcm2835-v4l2
// driver, natively, no raspivid), Exec (any command that writes Annex-B to
// stdout: raspivid, rpicam-vid, ffmpeg, cat) and TestSource (a real H.264
// clip kept in the repo, looped at real-time pace). All of them stamp AUs
// on the same clock, Monotonic, which is CLOCK_MONOTONIC on Linux: the
// clock the V4L2 driver stamps its buffers with.
package capture

import (
	"context"

	"github.com/camwire/camwire/segment"
)

// Source is a camera.
type Source interface {
	// Run captures until ctx ends or the source fails for good, calling emit for each AU in order.
	// It returns ctx.Err() when ctx ended, otherwise the error that stopped it.
	// emit owns each AU it is given: the source never touches its Data again, and emit releases
	// its Block, if any, when done with it (segment.AU).
	Run(ctx context.Context, emit func(segment.AU)) error
}
