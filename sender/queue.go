package sender

import (
	"fmt"
	"time"
	"unsafe"
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
	payload []byte // Frame: the access unit, owned by the sender
	seq     uint64 // Gap: the last sequence number it stands for
	first   uint64 // Gap: the first sequence number it stands for
	timeUS  int64
	segment uint32
	frames  uint32 // SegmentEnd.Frames or Gap.Frames
	kind    kind
	key     bool
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

// size is what r counts against the buffer bound. cap, not len: the
// allocator rounds an access unit's copy up to a size class and that
// rounding is real memory.
func (r *rec) size() int { return cap(r.payload) + recOverhead }

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
	s.q.push(r)
	s.used += r.size()
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
			// The receiver has it, so the kernel copied it long ago; a
			// writer still listing it in a batch is past it.
			s.pool.put(r.payload)
		}
	}
	s.acked = seq
	s.c.LastAck = time.Now()
	s.progress = s.c.LastAck
	close(s.ackCh)
	s.ackCh = make(chan struct{})
}

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
	s.progress = time.Now()
	return nil
}
