package sender

import (
	"fmt"
	"time"
	"unsafe"

	"github.com/camwire/camwire/segment"
)

// kind is what a buffered record is.
type kind uint8

const (
	kindFrame kind = iota
	kindSegmentEnd
	kindGap
)

// rec is one sequenced record waiting for its acknowledgement. One type for
// all three kinds keeps the queue a flat array: no interface boxing and no
// allocation per record beyond the access unit's copy.
type rec struct {
	payload []byte         // Frame: the access unit, owned by the sender
	blk     *segment.Block // Frame: the block payload lies in (one reference is the sender's); nil: payload is its own memory
	nals    []uint32       // Frame: the payload's NAL table (segment.AU.NALs, in blk's memory); nil: none
	seq     uint64         // Gap: the last sequence number it stands for
	first   uint64         // Gap: the first sequence number it stands for
	timeUS  int64
	segment uint32
	frames  uint32 // SegmentEnd.Frames or Gap.Frames
	kind    kind
	key     bool
	holds   bool // blk's Size is counted in this record's size (see size)
	copied  bool // Frame: payload is Frame's copy, recycled through the pool
}

// firstSeq is the lowest sequence number r occupies.
func (r *rec) firstSeq() uint64 {
	if r.kind == kindGap {
		return r.first
	}
	return r.seq
}

// recOverhead is what one record costs besides its payload: its queue slot,
// counted twice because the ring may be up to half empty after it grows.
const recOverhead = 2 * int(unsafe.Sizeof(rec{}))

// size is what r counts against the buffer bound. For a payload of its
// own, cap, not len: the allocator rounds an access unit's copy up to a
// size class and that rounding is real memory.
//
// A payload in a shared block pins the whole block, however small the
// frame, so a block counts in full, once: the frames of one block arrive
// one after the other, and the first frame of each such run in the queue
// holds the block's size (holds; see sameRun). When that frame goes
// while others of its run stay, the next one takes the size over
// (passHold). A run split by a frame of another memory counts twice,
// which errs on the safe side.
func (r *rec) size() int {
	switch {
	case r.blk == nil:
		return cap(r.payload) + recOverhead
	case r.holds:
		return r.blk.Size() + recOverhead
	}
	return recOverhead
}

// ring is a FIFO of records in a power-of-two circular array. It grows and
// never shrinks: its peak size is bounded by the buffer bound (every record
// counts recOverhead against it).
type ring struct {
	buf  []rec
	head int
	n    int
}

func (q *ring) len() int { return q.n }

// at returns the i-th record from the head; the pointer is valid until the
// next push, pop or replace.
func (q *ring) at(i int) *rec { return &q.buf[(q.head+i)&(len(q.buf)-1)] }

func (q *ring) push(r rec) {
	if q.n == len(q.buf) {
		nb := make([]rec, max(64, 2*len(q.buf)))
		for i := 0; i < q.n; i++ {
			nb[i] = *q.at(i)
		}
		q.buf, q.head = nb, 0
	}
	*q.at(q.n) = r
	q.n++
}

func (q *ring) pop() rec {
	p := q.at(0)
	r := *p
	*p = rec{} // let the payload go
	q.head = (q.head + 1) & (len(q.buf) - 1)
	q.n--
	return r
}

func (q *ring) last() *rec { return q.at(q.n - 1) }

func (q *ring) popBack() rec {
	p := q.last()
	r := *p
	*p = rec{}
	q.n--
	return r
}

// replace puts ins in place of the records [i, j); len(ins) <= j-i. The
// records after j move down; that costs O(records after j), paid at most
// once per dropped GOP.
func (q *ring) replace(i, j int, ins []rec) {
	for k, r := range ins {
		*q.at(i + k) = r
	}
	dst := i + len(ins)
	for src := j; src < q.n; src++ {
		*q.at(dst) = *q.at(src)
		dst++
	}
	for k := dst; k < q.n; k++ {
		*q.at(k) = rec{}
	}
	q.n = dst
}

// queue appends r to the send queue and counts its bytes against the
// buffer bound; s.mu is held.
func (s *Sender) queue(r rec) {
	if r.blk != nil {
		_, prev := s.frameBefore(s.q.len())
		r.holds = prev == nil || prev.blk != r.blk
	}
	s.q.push(r)
	s.used += r.size()
}

// frameBefore returns the last frame record before queue index i, and its
// index; nil when there is none. Only Gaps and SegmentEnds are skipped,
// and those are few.
func (s *Sender) frameBefore(i int) (int, *rec) {
	for i--; i >= 0; i-- {
		if r := s.q.at(i); r.kind == kindFrame {
			return i, r
		}
	}
	return -1, nil
}

// frameFrom returns the first frame record at or after queue index i, and
// its index; nil when there is none.
func (s *Sender) frameFrom(i int) (int, *rec) {
	for ; i < s.q.len(); i++ {
		if r := s.q.at(i); r.kind == kindFrame {
			return i, r
		}
	}
	return -1, nil
}

// sameRun reports whether n, a frame, continues the run of frames of
// blk that began with a record holding blk's size.
func sameRun(n *rec, blk *segment.Block) bool {
	return n != nil && blk != nil && n.blk == blk && !n.holds
}

// passHold gives the block size that the frame r, leaving the queue, held
// to the next frame of its run, the one at queue index from or later, if
// there is one; it returns that frame's index (-1: none, the block is no
// longer the sender's).
func (s *Sender) passHold(r *rec, from int) int {
	if r.blk == nil || !r.holds {
		return -1
	}
	i, n := s.frameFrom(from)
	if !sameRun(n, r.blk) {
		return -1
	}
	n.holds = true
	return i
}

// release lets go of a frame's payload, which nobody may read any more:
// its block reference, or Frame's copy to the pool for the next copy. An
// access unit FrameAU took over without a block is left to the garbage
// collector: the pool would keep it for copies that may never come.
func (s *Sender) release(r *rec) {
	switch {
	case r.blk != nil:
		r.blk.Release()
	case r.copied:
		s.pool.put(r.payload)
	}
}

// pushFront puts r at the head of the queue.
func (s *Sender) pushFront(r rec) {
	s.q.push(rec{})
	for i := s.q.len() - 1; i > 0; i-- {
		*s.q.at(i) = *s.q.at(i - 1)
	}
	*s.q.at(0) = r
}

// freeTo drops acknowledged records from the head. Caller holds mu.
func (s *Sender) freeTo(seq uint64) {
	if seq <= s.acked {
		return
	}
	for s.q.len() > 0 && s.q.at(0).seq <= seq {
		r := s.q.pop()
		sz := r.size()
		s.used -= sz
		if s.wi > 0 {
			s.wi--
			s.pinned -= sz
		}
		if r.kind == kindFrame {
			s.c.Acked++
			if i := s.passHold(&r, 0); i >= 0 {
				sz := r.blk.Size()
				s.used += sz
				if i < s.wi {
					s.pinned += sz
				}
			}
			// The receiver has it, so the kernel copied it long ago; a
			// writer still listing it in a batch is past it.
			s.release(&r)
		}
	}
	s.acked = seq
	prev := s.c.LastAck
	s.c.LastAck = time.Now()
	s.progress = s.c.LastAck
	close(s.ackCh)
	s.ackCh = make(chan struct{})
	if prev.IsZero() || s.c.LastAck.Sub(prev) >= ackQuiet {
		s.changedLocked()
	}
}

// ackQuiet is how long acknowledgements must have paused for the next
// one to wake Changed's watchers: the first one and the first after a
// stall change what they show (a first-ack line, a stalled state
// ending), the ones in between (every sync of the receiver, several a
// second) only LastAck, and waking a watcher for each cost a goroutine
// wake-up per ack.
const ackQuiet = time.Second

// resume applies Welcome{Acked: acked}: records up to acked are stored,
// everything after is not at the receiver any more (it kept nothing past
// acked), so the writer starts over at the head of the queue.
func (s *Sender) resume(acked uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if last := s.nextSeq - 1; acked > last {
		return fmt.Errorf("receiver claims records up to %d, this sender has only produced %d (stream ID reused?)", acked, last)
	}
	if acked < s.acked {
		// The receiver lost records it had acknowledged (a disk that lied
		// about fsync). They are gone here too; say so with a Gap rather
		// than leave a hole the receiver would refuse.
		s.log.Error("receiver lost acknowledged records", "had", s.acked, "now", acked)
		g := rec{kind: kindGap, first: acked + 1, seq: s.acked}
		s.pushFront(g)
		s.used += g.size()
		s.acked = acked
	}
	s.freeTo(acked)
	s.wi, s.pinned, s.written = 0, 0, acked
	s.reply = nil // a ping of the last connection
	s.c.Connected = true
	s.c.Connects++
	s.changedLocked()
	s.progress = time.Now()
	return nil
}
