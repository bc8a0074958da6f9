package rtsp

import (
	"bytes"
	"sync/atomic"
	"time"

	"github.com/camwire/camwire/wire"
)

// queueFrames is how many frames wait between the receiver and one
// consumer (the RTSP server's camera, one publish connection): about two
// seconds at 30 fps.
const queueFrames = 64

// queue hands frames from the receiver's OnFrame hook, which must never
// block (it runs on the connection that records), to a consumer
// goroutine. When the consumer falls behind, new frames are dropped and
// counted, and the queue then waits for the next keyframe, so what a
// reader gets decodes, only with a jump; the recording is untouched.
type queue struct {
	c       chan frame
	skip    atomic.Bool // after a drop: drop until a keyframe
	dropped atomic.Uint64
}

func newQueue() *queue { return &queue{c: make(chan frame, queueFrames)} }

// put copies f and queues it unless full; see queue.
func (q *queue) put(h wire.Hello, f wire.Frame, now time.Time) {
	if q.skip.Load() && !f.Key {
		q.dropped.Add(1)
		return
	}
	fr := frame{hello: h, timeUS: f.TimeUS, key: f.Key, arrived: now, payload: bytes.Clone(f.Payload)}
	select {
	case q.c <- fr:
		q.skip.Store(false)
	default:
		q.skip.Store(true)
		q.dropped.Add(1)
	}
}
