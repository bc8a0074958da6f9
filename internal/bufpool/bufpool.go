// Package bufpool is a pool of byte buffers in size classes, shared by
// every connection of the receiver: a frame's payload is read into a
// buffer from it and handed back once the frame is durable, so a
// steady stream allocates nothing per frame, and a connection holds
// only the buffers of the frames it has not yet made durable. A
// keyframe's big buffer goes back to the pool for the next keyframe
// of any camera instead of staying with the connection that read it.
//
// Idle buffers are kept while they are used: every TrimEvery, the pool
// lets go of as many buffers of each class as stayed idle through the
// whole period (the class's low-water mark), so what a burst needed is
// returned to the garbage collector within two periods and a steady
// load keeps exactly its working set. sync.Pool is not used: it empties
// itself at every garbage collection, and with 128 cameras the misses
// after each collection were allocations that brought on the next one,
// 490 MB allocated for a working set of 60-150 MB.
//
// Classes are four per power of two (4 KiB, 5 KiB, 6 KiB, 7 KiB, 8 KiB,
// 10 KiB, …), so a buffer wastes at most a quarter of its size; a
// power-of-two class would waste up to half, and frames of a 16 Mbit/s
// stream (20–400 KiB) spread over all sizes.
package bufpool

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

const (
	minShift = 12 // smallest class: 4 KiB
	// MaxPooled is the largest buffer kept: a camwire frame's limit
	// (wire.DefaultLimits.MaxFrame, 8 MiB) fits. Larger ones are
	// allocated and left to the garbage collector.
	MaxPooled = 1 << maxShift
	maxShift  = 23
	// classes: class 0, then four per power of two up to MaxPooled.
	classes = (maxShift-minShift)*4 + 1
)

// classOf is the index of the smallest class holding n bytes.
func classOf(n int) int {
	if n <= 1<<minShift {
		return 0
	}
	k := bits.Len(uint(n-1)) - 1 // 2^k < n <= 2^(k+1)
	step := 1 << (k - 2)
	j := (n - 1<<k + step - 1) / step // 1..4 quarters above 2^k
	return (k-minShift)*4 + j
}

// size is the capacity of class c's buffers.
func size(c int) int {
	if c == 0 {
		return 1 << minShift
	}
	k, j := (c-1)/4+minShift, (c-1)%4+1
	return 1<<k + j<<(k-2)
}

// Pool is a buffer pool. The zero value is ready and trims every
// DefaultTrimEvery.
type Pool struct {
	// TrimEvery is the period of trimming (see the package doc); zero
	// means DefaultTrimEvery.
	TrimEvery time.Duration
	// now is the clock; nil means time.Now.
	now func() time.Time

	mu       sync.Mutex
	free     [classes][][]byte
	low      [classes]int // fewest idle buffers of the class this period
	idle     int64        // bytes in free
	peak     int64        // most bytes in use at once
	lastTrim time.Time
	// inUse is the bytes handed out by Get and not yet Put, changed
	// under mu but read without it: the receiver checks it for every
	// frame (recv's MaxUnsynced).
	inUse atomic.Int64
}

// DefaultTrimEvery is how often a Pool lets go of buffers nobody used:
// four of the receiver's 500 ms sync intervals, so a period sees every
// buffer of the steady working set come back and be taken again, and
// the buffers of a burst (128 cameras connecting in step) go within
// 4 s, not within the 20 s of a 10 s period.
const DefaultTrimEvery = 2 * time.Second

// Payloads is the receiver's pool of frame payloads.
var Payloads Pool

// Get returns a buffer of length n, its contents arbitrary.
func (p *Pool) Get(n int) []byte {
	if n > MaxPooled {
		return make([]byte, n)
	}
	c := classOf(n)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.maybeTrim()
	// A buffer of the next two classes up (at most 1.5× the size) does
	// too: frame sizes wander, and buffers that fit no frame for a while
	// would be memory kept for nothing.
	for i := c; i < min(c+3, classes); i++ {
		if k := len(p.free[i]); k > 0 {
			b := p.free[i][k-1]
			p.free[i][k-1] = nil
			p.free[i] = p.free[i][:k-1]
			p.low[i] = min(p.low[i], k-1)
			p.idle -= int64(cap(b))
			p.peak = max(p.peak, p.inUse.Add(int64(cap(b))))
			return b[:n]
		}
	}
	p.peak = max(p.peak, p.inUse.Add(int64(size(c))))
	return make([]byte, n, size(c))
}

// Put hands b back for reuse. b must have come from Get and must not be
// used after Put; a buffer of another capacity is left to the garbage
// collector.
func (p *Pool) Put(b []byte) {
	n := cap(b)
	if n > MaxPooled || n < 1<<minShift {
		return
	}
	c := classOf(n)
	if size(c) != n {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.free[c] = append(p.free[c], b[:0])
	p.idle += int64(n)
	p.inUse.Add(-int64(n))
	p.maybeTrim()
}

// Idle is the bytes of buffers the pool holds for reuse.
func (p *Pool) Idle() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.idle
}

// InUse is the bytes of pooled buffers handed out by Get and not yet
// given back. It takes no lock.
func (p *Pool) InUse() int64 { return p.inUse.Load() }

// Peak is the most bytes of pooled buffers that were handed out at once.
func (p *Pool) Peak() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peak
}

// maybeTrim drops, once a period, each class's buffers that stayed idle
// all period. p.mu is held.
func (p *Pool) maybeTrim() {
	now := time.Now
	if p.now != nil {
		now = p.now
	}
	every := p.TrimEvery
	if every <= 0 {
		every = DefaultTrimEvery
	}
	t := now()
	if p.lastTrim.IsZero() {
		p.lastTrim = t
		return
	}
	if t.Sub(p.lastTrim) < every {
		return
	}
	p.lastTrim = t
	for c := range p.free {
		if drop := p.low[c]; drop > 0 {
			// The oldest (bottom of the stack) go: the top is reused first.
			for _, b := range p.free[c][:drop] {
				p.idle -= int64(cap(b))
			}
			k := copy(p.free[c], p.free[c][drop:])
			clear(p.free[c][k:])
			p.free[c] = p.free[c][:k]
		}
		p.low[c] = len(p.free[c])
	}
}
