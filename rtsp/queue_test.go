package rtsp

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/camwire/camwire/wire"
)

// TestQueueDropsUntilKeyframe: a consumer that falls behind never blocks
// put (the receiver's connection); frames that do not fit are counted,
// and after a drop the queue waits for a keyframe, so what the consumer
// gets next decodes.
func TestQueueDropsUntilKeyframe(t *testing.T) {
	q := newQueue()
	var h wire.Hello
	// GOP of 10: keyframes at 0, 10, 20 …; nobody reads.
	for n := range queueFrames + 25 {
		q.put(h, wire.Frame{Seq: uint64(n), TimeUS: int64(n), Key: n%10 == 0, Payload: []byte{byte(n)}}, time.Time{})
	}
	if got, want := q.dropped.Load(), uint64(25); got != want {
		t.Errorf("dropped = %d, want %d (the frames that did not fit)", got, want)
	}
	// The consumer catches up; the next frames go in from the keyframe on.
	for range queueFrames {
		<-q.c
	}
	for n := queueFrames + 25; n < queueFrames+45; n++ {
		q.put(h, wire.Frame{TimeUS: int64(n), Key: n%10 == 0, Payload: []byte{byte(n)}}, time.Time{})
	}
	var got []int64
	for len(q.c) > 0 {
		got = append(got, (<-q.c).timeUS)
	}
	var want []int64
	for n := int64(90); n < queueFrames+45; n++ {
		want = append(want, n)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("frames after the drop (-want +got):\n%s", d)
	}
	if got, want := q.dropped.Load(), uint64(25+1); got != want {
		t.Errorf("dropped = %d, want %d (frame 89 waits for keyframe 90)", got, want)
	}
}
