package sender

import (
	"sync"
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

// pool keeps the copies of recently freed access units for the next
// frames, so a steady stream reuses the same memory instead of making the
// garbage collector and the kernel (page faults on fresh heap) recycle
// ~2 MB/s. It is small and separately bounded: it is not counted in the
// buffer bound.
type pool struct {
	mu    sync.Mutex
	bufs  [][]byte
	bytes int
	limit int
}

// poolEntries bounds the pool's slice; poolSearch is how many recent
// entries get looks at, newest first.
const (
	poolEntries = 64
	poolSearch  = 8
)

// get returns a buffer of length n, or nil when none fits without
// wasting much (accounting counts cap, so waste shrinks the buffer).
func (p *pool) get(n int) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.bufs) - 1; i >= 0 && i >= len(p.bufs)-poolSearch; i-- {
		b := p.bufs[i]
		if c := cap(b); c >= n && c-n <= n/4+8192 {
			last := len(p.bufs) - 1
			p.bufs[i] = p.bufs[last]
			p.bufs[last] = nil
			p.bufs = p.bufs[:last]
			p.bytes -= c
			return b[:n]
		}
	}
	return nil
}

// put offers a freed payload for reuse; nobody may hold it any more.
func (p *pool) put(b []byte) {
	if cap(b) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.bufs) == poolEntries || p.bytes+cap(b) > p.limit {
		// Replace the oldest: recent sizes predict the next frames best.
		if len(p.bufs) == 0 || cap(b) > p.limit {
			return
		}
		p.bytes -= cap(p.bufs[0])
		copy(p.bufs, p.bufs[1:])
		p.bufs[len(p.bufs)-1] = nil
		p.bufs = p.bufs[:len(p.bufs)-1]
		if p.bytes+cap(b) > p.limit {
			return
		}
	}
	p.bufs = append(p.bufs, b)
	p.bytes += cap(b)
}
