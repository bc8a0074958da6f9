// Package sink is how camwire-recv stores one segment of a framed stream:
// a file format (Annex-B .h264 here, fragmented MP4 in package mp4)
// behind one interface, so the receiver's durability and resume logic is
// written once.
//
// The contract that makes resume lossless: the receiver acknowledges a
// sequence number only after SegmentWriter.Sync returned, and records the
// (size, state) that Sync returned in its journal. After a crash it calls
// Sink.Reopen with the last journaled pair; bytes past size were never
// acknowledged, so the sender sends those frames again.
package sink

import (
	"time"

	"github.com/camwire/camwire/wire"
)

// SegmentInfo describes the segment a writer stores.
type SegmentInfo struct {
	Hello   wire.Hello // the camera's hello: name, codec, size, frame rate
	Segment uint32     // the sender's segment number
	// Start is the wall-clock capture time of the segment's first frame
	// (its arrival time when the camera sends no clock samples).
	Start time.Time
	// Wall, if set, maps a frame's capture time (wire.Frame.TimeUS) to
	// the wall clock, false when unknown: formats that can say when each
	// part was captured (MP4's prft) use it.
	Wall func(timeUS int64) (time.Time, bool)
	// Stable promises that every frame's Payload stays valid and
	// unchanged until the writer's next Sync, Finish or Close has
	// returned, not only during WriteFrame: the writer may then write
	// payloads from where they lie, many in one system call, instead of
	// copying them. The receiver keeps each record until it is durable,
	// so it can promise this.
	Stable bool
}

// Sink creates and reopens segment files of one format.
type Sink interface {
	// Ext is the extension of a finished file, e.g. ".h264" or ".mp4".
	Ext() string
	// Create starts a new, empty segment file at path.
	Create(path string, info SegmentInfo) (SegmentWriter, error)
	// Reopen continues the file at path after a restart. size and state
	// are what the writer's last successful Sync returned; the file may
	// be longer (data written but never acknowledged), and the caller has
	// already moved those extra bytes aside, so the file is exactly size
	// bytes long when Reopen is called.
	Reopen(path string, info SegmentInfo, size int64, state []byte) (SegmentWriter, error)
}

// SegmentWriter stores the frames of one segment in order.
type SegmentWriter interface {
	// WriteFrame stores one access unit. f.Payload is only valid during
	// the call, unless SegmentInfo.Stable says longer. Frames arrive in
	// sequence order; a writer may buffer them.
	WriteFrame(f wire.Frame) error
	// Sync makes every frame given so far durable (written and fsynced)
	// and returns the file's durable size plus opaque state that Reopen
	// needs to continue from exactly here (nil for formats that need none).
	Sync() (size int64, state []byte, err error)
	// Finish completes the segment: whatever the format needs at the end,
	// then fsync and close. The caller renames the file afterwards.
	Finish() error
	// Close syncs and closes without finishing: the file stays partial
	// and can be reopened.
	Close() error
}
