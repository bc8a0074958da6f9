package bufpool

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestClasses(t *testing.T) {
	tests := []struct {
		n, class, size int
	}{
		{0, 0, 4096},
		{1, 0, 4096},
		{4096, 0, 4096},
		{4097, 1, 5120},
		{5120, 1, 5120},
		{5121, 2, 6144},
		{8192, 4, 8192},
		{8193, 5, 10240},
		{66_000, 17, 81920},   // a P-frame of a 16 Mbit/s stream
		{422_864, 27, 458752}, // its keyframe
		{MaxPooled, classes - 1, MaxPooled},
	}
	for _, tt := range tests {
		c := classOf(tt.n)
		if diff := cmp.Diff([2]int{tt.class, tt.size}, [2]int{c, size(c)}); diff != "" {
			t.Errorf("classOf(%d), size (-want +got):\n%s", tt.n, diff)
		}
	}
	// Every class holds what it is asked for and wastes at most a
	// quarter: the class below is too small.
	for n := 1; n <= MaxPooled; n += 997 {
		c := classOf(n)
		if size(c) < n || c > 0 && size(c-1) >= n || size(c) > n+n/4+1<<minShift {
			t.Fatalf("classOf(%d) = %d of %d bytes; class below holds %d", n, c, size(c), size(c-1))
		}
	}
}

// clock is a fake time for trimming.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// usage is what a pool holds and has handed out.
type usage struct{ Idle, InUse int64 }

func (p *Pool) usage() usage { return usage{p.Idle(), p.InUse()} }

func TestGetPut(t *testing.T) {
	var p Pool
	b := p.Get(100_000)
	want := size(classOf(100_000))
	if len(b) != 100_000 || cap(b) != want {
		t.Fatalf("Get(100000): len %d cap %d, want len 100000 cap %d", len(b), cap(b), want)
	}
	if diff := cmp.Diff(usage{0, int64(want)}, p.usage()); diff != "" {
		t.Errorf("after Get (-want +got):\n%s", diff)
	}
	b[0] = 42
	p.Put(b)
	if diff := cmp.Diff(usage{int64(want), 0}, p.usage()); diff != "" {
		t.Errorf("after Put (-want +got):\n%s", diff)
	}
	// A slightly smaller request (two classes down) reuses it.
	if c := p.Get(80_000); len(c) != 80_000 || cap(c) != want || c[0] != 42 {
		t.Errorf("Get(80000) after Put: len %d cap %d, want the buffer put back (cap %d)", len(c), cap(c), want)
	}
	// A much smaller one does not: it would waste most of the buffer.
	p.Put(p.Get(100_000))
	if c := p.Get(20_000); cap(c) == want {
		t.Errorf("Get(20000) took the %d-byte buffer", want)
	}
	if big := p.Get(MaxPooled + 1); len(big) != MaxPooled+1 {
		t.Errorf("Get(MaxPooled+1): len %d", len(big))
	}
	p.Put(make([]byte, 5000)) // not a class size: ignored, must not panic
	p.Put(nil)
}

// What stayed idle for a whole period goes; what was used stays. A big
// keyframe's buffer, given back and not needed again, is gone within two
// periods.
func TestTrim(t *testing.T) {
	clk := &clock{time.Unix(1000, 0)}
	p := Pool{TrimEvery: time.Second, now: clk.now}
	const small, key = 66_000, 2 << 20
	var bufs [][]byte
	for range 5 {
		bufs = append(bufs, p.Get(small))
	}
	bufs = append(bufs, p.Get(key))
	for _, b := range bufs {
		p.Put(b)
	}
	ss, ks := int64(size(classOf(small))), int64(size(classOf(key)))
	if diff := cmp.Diff(usage{5*ss + ks, 0}, p.usage()); diff != "" {
		t.Fatalf("after the burst (-want +got):\n%s", diff)
	}
	// Two periods of a steady stream that needs two small buffers at a
	// time: three small ones and the keyframe's are never touched.
	for range 2 {
		for range 10 {
			a, b := p.Get(small), p.Get(small)
			p.Put(a)
			p.Put(b)
		}
		clk.t = clk.t.Add(time.Second)
		p.Put(p.Get(small)) // trims
	}
	if diff := cmp.Diff(usage{2 * ss, 0}, p.usage()); diff != "" {
		t.Errorf("after two periods of needing two buffers (-want +got):\n%s", diff)
	}
}

// A steady stream that puts back what it got allocates nothing.
func TestReuseAllocates(t *testing.T) {
	var p Pool
	p.Put(p.Get(66_000))
	if allocs := testing.AllocsPerRun(100, func() { p.Put(p.Get(66_000)) }); allocs != 0 {
		t.Errorf("Get+Put of a pooled size: %.1f allocations, want 0", allocs)
	}
}

// Peak is the high-water mark of InUse, buffers reused from the pool
// included: the receiver's tests check MaxUnsynced with it.
func TestPeak(t *testing.T) {
	var p Pool
	a, b := p.Get(8192), p.Get(8192)
	p.Put(a)
	p.Put(b)
	c := p.Get(8192) // reused
	if got, want := p.Peak(), int64(2*8192); got != want {
		t.Errorf("after two Gets, two Puts and a Get: Peak() = %d, want %d", got, want)
	}
	d, e := p.Get(8192), p.Get(8192) // one reused, one new
	if got, want := p.Peak(), int64(3*8192); got != want {
		t.Errorf("with three handed out: Peak() = %d, want %d", got, want)
	}
	p.Put(c)
	p.Put(d)
	p.Put(e)
	if got := p.InUse(); got != 0 {
		t.Errorf("InUse() = %d after every Put, want 0", got)
	}
}
