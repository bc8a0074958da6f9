package capture

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"sync"
	"time"

	"github.com/camwire/camwire/segment"
)

// testClip is made by scripts/make-testclip.sh: 640x360, 30 fps, 120
// frames, Main profile without B-frames, an IDR with SPS/PPS every 30
// frames, the frame number burnt in.
//
//go:embed testclip.h264
var testClip []byte

// Facts about the embedded clip that tests and the demo rely on.
const (
	ClipFPS    = 30
	ClipFrames = 120
	ClipGOP    = 30 // frames from one IDR to the next
	ClipWidth  = 640
	ClipHeight = 360
)

// TestClip returns a copy of the embedded H.264 clip (Annex-B), for
// other packages' tests that need real video.
func TestClip() []byte { return bytes.Clone(testClip) }

// clipAUs is the clip cut into access units, once.
var clipAUs = sync.OnceValues(func() ([]segment.AU, error) {
	var s segment.Splitter
	aus, err := s.Write(testClip, 0)
	if err != nil {
		return nil, fmt.Errorf("test clip: %w", err)
	}
	aus = append(aus, s.Flush()...)
	if len(aus) != ClipFrames || s.Dropped() != 0 {
		return nil, fmt.Errorf("test clip: %d access units (%d bytes dropped), want %d", len(aus), s.Dropped(), ClipFrames)
	}
	return aus, nil
})

// TestSource is a camera without a camera: it loops the embedded clip at
// real-time pace, so everything downstream sees real H.264 (a decoder can
// play the recording, the frame numbers show what was lost).
//
// Frame i of the run (counting across loops) is stamped start + i/FPS,
// where start is Now() when Run begins: timestamps are continuous across
// loops and exact, so tests can check them. Pacing is against the start
// time, not frame to frame, so it does not drift; a slow emit delays
// frames but never drops them.
type TestSource struct {
	FPS   float64              // frames per second; 0 means ClipFPS
	Fast  bool                 // emit without waiting (tests, benchmarks); timestamps still 1/FPS apart
	Loops int                  // passes over the clip before Run returns nil; 0 means until ctx ends
	Now   func() time.Duration // clock for the first timestamp; nil means Monotonic
}

// Run implements Source.
func (s *TestSource) Run(ctx context.Context, emit func(segment.AU)) error {
	aus, err := clipAUs()
	if err != nil {
		return err
	}
	fps := s.FPS
	if fps == 0 {
		fps = ClipFPS
	}
	if fps < 0 || fps > 1000 {
		return fmt.Errorf("test source: fps %v out of range (0, 1000]", fps)
	}
	now := s.Now
	if now == nil {
		now = Monotonic
	}
	start, wall := now(), time.Now()
	var timer *time.Timer
	for i := 0; s.Loops == 0 || i < s.Loops*len(aus); i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		at := time.Duration(float64(i) * float64(time.Second) / fps) // not i*interval: no rounding drift
		if !s.Fast {
			if wait := time.Until(wall.Add(at)); wait > 0 {
				if timer == nil {
					timer = time.NewTimer(wait)
					defer timer.Stop()
				} else {
					timer.Reset(wait)
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-timer.C:
				}
			}
		}
		au := aus[i%len(aus)]
		emit(segment.AU{Data: bytes.Clone(au.Data), Time: start + at, Key: au.Key})
	}
	return nil
}
