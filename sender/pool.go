package sender

import "sync"

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
