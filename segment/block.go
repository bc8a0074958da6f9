package segment

import (
	"sync"
	"sync/atomic"
)

// blockSize is the size of the blocks a Splitter reads into. An access
// unit must lie in one block, so when a block fills up the unfinished one
// moves to the next: the bigger the block, the rarer that copy (half an
// access unit per block on average, ~3% at 16 Mbit/s and 30 fps). A
// sender that holds one frame of a block pins all of it, so it must stay
// small against the sender's buffer and the recorder's memory goal.
const blockSize = 1 << 20

// maxFreeBlocks bounds the released blocks a Splitter keeps for reuse.
// A camera's access units come back (acknowledged) at the rate they were
// read, so a few cover the steady state; more would only hold memory.
const maxFreeBlocks = 4

// Block is memory that access units handed out by a Splitter point into:
// the bytes a camera command writes are read into a block once and never
// copied out. Many access units share a block.
//
// A block counts its holders. The Splitter holds the block it reads into,
// and each AU handed out holds one reference to its AU.Block: the AU's
// receiver owns it and calls Release exactly once when it no longer needs
// AU.Data (the sender does so when the receiver acknowledged the frame).
// The last Release returns the block to its Splitter, which reads new bytes
// into it: after Release, Data must not be touched. An AU that is simply
// dropped, never released, is safe: its block is never reused and the
// garbage collector takes it.
type Block struct {
	buf []byte
	// nals holds the NAL tables (AU.NALs) of the access units in buf,
	// back to back: a table lives exactly as long as its access unit's
	// bytes, and a reused block reuses the memory of both.
	nals []uint32
	refs atomic.Int32
	free *blockPool // where the last Release puts it; nil: nowhere
}

// NewBlock returns a block of n bytes with one reference, the caller's,
// for a source that fills blocks itself rather than through a Splitter.
// Its last Release leaves it to the garbage collector.
func NewBlock(n int) *Block {
	b := &Block{buf: make([]byte, n)}
	b.refs.Store(1)
	return b
}

// Bytes is the block's memory.
func (b *Block) Bytes() []byte { return b.buf[:cap(b.buf)] }

// Refs is the number of references held, for tests and diagnostics.
func (b *Block) Refs() int { return int(b.refs.Load()) }

// Size is the memory the block occupies: what holding any access unit in
// it costs, however small the access unit.
func (b *Block) Size() int { return cap(b.buf) }

// Retain adds a reference, for a second holder of an access unit in b.
func (b *Block) Retain() { b.refs.Add(1) }

// Release gives up one reference. It panics when b has none left: a
// double release would let the block be overwritten under a holder.
func (b *Block) Release() {
	switch n := b.refs.Add(-1); {
	case n == 0:
		if b.free != nil {
			b.free.put(b)
		}
	case n < 0:
		panic("segment: Block released more often than held")
	}
}

// blockPool keeps released blocks for the Splitter that made them. The
// Splitter takes from it on the capture goroutine, holders put back from
// theirs (the sender's ack reader), hence the lock.
type blockPool struct {
	size int // of a new block; 0 means blockSize
	mu   sync.Mutex
	free []*Block
}

func (p *blockPool) blockSize() int {
	if p.size > 0 {
		return p.size
	}
	return blockSize
}

// get returns a block with room for at least n bytes and one reference,
// the caller's: a free one when one is big enough, else a new one.
func (p *blockPool) get(n int) *Block {
	p.mu.Lock()
	for i := len(p.free) - 1; i >= 0; i-- {
		if b := p.free[i]; cap(b.buf) >= n {
			last := len(p.free) - 1
			p.free[i] = p.free[last]
			p.free[last] = nil
			p.free = p.free[:last]
			p.mu.Unlock()
			b.buf, b.nals = b.buf[:0], b.nals[:0]
			b.refs.Store(1)
			return b
		}
	}
	p.mu.Unlock()
	b := &Block{buf: make([]byte, 0, max(n, p.blockSize())), free: p}
	b.refs.Store(1)
	return b
}

// put takes a block nobody holds. Oversized ones (made for one huge access
// unit or one big Write) are left to the garbage collector.
func (p *blockPool) put(b *Block) {
	if cap(b.buf) > p.blockSize() {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.free == nil {
		p.free = make([]*Block, 0, maxFreeBlocks)
	}
	if len(p.free) < maxFreeBlocks {
		p.free = append(p.free, b)
	}
}
