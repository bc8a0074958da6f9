package sender

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camwire/camwire/internal/backoff"
	"github.com/camwire/camwire/wire"
)

// testRecv is a minimal receiver built on the wire package: handshake,
// strict sequence checking, an in-memory "disk" and acks. It enforces the
// rule the real receiver implements: a record is accepted only when it
// starts at last+1 (a Gap's First, else its Seq); Seq <= last is a
// duplicate. Duplicates are counted: a sender that resumes exactly from
// Welcome.Acked never causes one.
type testRecv struct {
	t      *testing.T
	ln     net.Listener
	key    []byte // non-nil: auth required
	reject string // non-empty: Reject every connection with this reason
	minor  uint8  // Challenge.Minor; 0: a 1.0 receiver's Challenge, which has none
	ping   bool   // every Ack carries a ping (1, 2, ...), as a 1.2 receiver's do; the replies go to clocks
	// forgetUnacked makes each new connection start from the last
	// acknowledged record, as if the receiver lost its page cache.
	forgetUnacked func() bool

	sess sync.Mutex // held by the connection that owns the stream

	mu       sync.Mutex
	noAck    bool
	last     uint64 // highest accepted Seq
	durable  uint64 // highest acknowledged Seq
	recs     []wire.Record
	logs     []wire.Log
	stats    []wire.Stats
	pings    uint64       // the last ping sent
	clocks   []wire.Clock // the replies, in arrival order
	dups     int
	welcomes []uint64
	cur      net.Conn
	closed   bool
	conns    map[net.Conn]bool
	changed  chan struct{} // closed and replaced whenever anything above changes
	wg       sync.WaitGroup
}

// notify wakes waitUntil; caller holds mu.
func (r *testRecv) notify() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// waitUntil waits for cond (called with mu held) to hold.
func (r *testRecv) waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		ok, ch := cond(), r.changed
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("receiver: timed out waiting for %s", what)
		}
	}
}

// newTestRecv listens on addr ("127.0.0.1:0" for any port).
func newTestRecv(t *testing.T, addr string) *testRecv {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	r := &testRecv{t: t, ln: ln, conns: map[net.Conn]bool{}, changed: make(chan struct{})}
	t.Cleanup(r.Close)
	return r
}

func (r *testRecv) Addr() string { return r.ln.Addr().String() }

// start serves; configure fields before.
func (r *testRecv) start() *testRecv {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := r.ln.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			if r.closed {
				r.mu.Unlock()
				c.Close()
				return
			}
			r.conns[c] = true
			r.wg.Add(1)
			r.mu.Unlock()
			go func() {
				defer r.wg.Done()
				r.handle(c)
				c.Close()
				r.mu.Lock()
				delete(r.conns, c)
				r.mu.Unlock()
			}()
		}
	}()
	return r
}

// Close stops the receiver like a killed process: listener and
// connections closed, nothing more acknowledged.
func (r *testRecv) Close() {
	r.mu.Lock()
	r.closed = true
	r.ln.Close()
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

// restartFrom copies the durable state of old (what survived on disk).
func (r *testRecv) restartFrom(old *testRecv) {
	old.mu.Lock()
	defer old.mu.Unlock()
	r.last, r.durable = old.durable, old.durable
	for _, rec := range old.recs {
		if wire.SeqOf(rec) <= old.durable {
			r.recs = append(r.recs, rec)
		}
	}
}

func (r *testRecv) handle(c net.Conn) {
	rd := wire.NewReader(c, wire.Limits{})
	if _, err := rd.ReadPreamble(); err != nil {
		return
	}
	hr, err := rd.Next()
	if err != nil {
		return
	}
	hello, ok := hr.(wire.Hello)
	if !ok || hello.Validate() != nil {
		r.t.Errorf("first record %#v, want a valid hello", hr)
		return
	}
	if r.reject != "" {
		wire.Write(c, wire.Reject{Reason: r.reject})
		return
	}
	var nonce [wire.NonceLen]byte
	rand.Read(nonce[:])
	if wire.Write(c, wire.Challenge{Nonce: nonce, AuthRequired: r.key != nil, Minor: r.minor}) != nil {
		return
	}
	ar, err := rd.Next()
	if err != nil {
		return
	}
	auth, ok := ar.(wire.Auth)
	if !ok {
		r.t.Errorf("record after challenge %#v, want auth", ar)
		return
	}
	if r.key != nil && !wire.CheckMAC(r.key, nonce, hello.StreamID, hello.Name, auth.MAC) {
		wire.Write(c, wire.Reject{Reason: "bad key for camera " + hello.Name})
		return
	}

	// Take the stream over from an older connection, as the real
	// receiver does, before telling the sender where to resume.
	r.mu.Lock()
	if r.cur != nil {
		r.cur.Close()
	}
	r.mu.Unlock()
	r.sess.Lock()
	defer r.sess.Unlock()
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.cur = c
	if r.forgetUnacked != nil && r.forgetUnacked() {
		for len(r.recs) > 0 && wire.SeqOf(r.recs[len(r.recs)-1]) > r.durable {
			r.recs = r.recs[:len(r.recs)-1]
		}
		r.last = r.durable
	}
	r.durable = r.last // Welcome acknowledges: the real receiver fsyncs first
	r.welcomes = append(r.welcomes, r.last)
	r.notify()
	welcome := wire.Welcome{Acked: r.last}
	r.mu.Unlock()

	var wmu sync.Mutex // acks come from the reader and the ticker
	if err := wire.Write(c, welcome); err != nil {
		return
	}
	ack := func() error {
		r.mu.Lock()
		if r.noAck || r.durable == r.last {
			r.mu.Unlock()
			return nil
		}
		r.durable = r.last
		a := wire.Ack{Seq: r.last}
		if r.ping {
			r.pings++
			a.Ping = r.pings
		}
		r.mu.Unlock()
		wmu.Lock()
		defer wmu.Unlock()
		return wire.Write(c, a)
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		// Acks in batches, like the real receiver's fsync timer.
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if ack() != nil {
					return
				}
			}
		}
	}()
	for {
		rec, err := rd.Next()
		if err != nil {
			return
		}
		var first uint64
		switch v := rec.(type) {
		case wire.Stats:
			r.mu.Lock()
			r.stats = append(r.stats, v)
			r.notify()
			r.mu.Unlock()
			continue
		case wire.Clock:
			r.mu.Lock()
			r.clocks = append(r.clocks, v)
			r.notify()
			r.mu.Unlock()
			continue
		case wire.Log:
			r.mu.Lock()
			r.logs = append(r.logs, v)
			r.notify()
			r.mu.Unlock()
			continue
		case wire.Frame:
			v.Payload = append([]byte(nil), v.Payload...)
			if v.NALs != nil {
				v.NALs = append(wire.NALTable{}, v.NALs...)
			}
			rec, first = v, v.Seq
		case wire.SegmentEnd:
			first = v.Seq
		case wire.Gap:
			first = v.First
		default:
			r.t.Errorf("unexpected %s record", rec.Type())
			return
		}
		r.mu.Lock()
		switch {
		case wire.SeqOf(rec) <= r.last:
			r.dups++
		case first != r.last+1:
			r.t.Errorf("%s starting at %d does not follow %d", rec.Type(), first, r.last)
			r.mu.Unlock()
			return
		default:
			r.recs = append(r.recs, rec)
			r.last = wire.SeqOf(rec)
		}
		r.notify()
		r.mu.Unlock()
	}
}

// snapshot returns what the receiver stored.
func (r *testRecv) snapshot() (recs []wire.Record, dups int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]wire.Record(nil), r.recs...), r.dups
}

// producer makes numbered frames: the payload starts with the frame's
// index, keyframes every gop frames, a segment every seg frames.
type producer struct {
	n, gop, seg, size int
	buf               []byte
}

func (p *producer) frames(s *Sender, count int) {
	if len(p.buf) < p.size+8 {
		p.buf = make([]byte, p.size+8)
	}
	for i := 0; i < count; i++ {
		idx := p.n
		p.n++
		binary.BigEndian.PutUint64(p.buf, uint64(idx))
		// Vary sizes so cuts land everywhere in records.
		size := 8 + p.size/2 + (idx*7919)%(p.size/2+1)
		s.Frame(uint32(idx/p.seg), int64(idx)*33333, idx%p.gop == 0, p.buf[:size])
		if (idx+1)%p.seg == 0 {
			s.EndSegment(uint32(idx/p.seg), uint32(p.seg))
		}
	}
}

// verify checks the receiver's records against everything produced:
// frames in order, each exactly once or inside a Gap, every Gap followed
// by a keyframe, and every segment end present. It returns the frames
// received and those reported lost.
func verify(t *testing.T, p *producer, recs []wire.Record) (got, lost int) {
	t.Helper()
	next := 0 // index of the next frame expected
	afterGap := false
	ends := 0
	for _, rec := range recs {
		switch v := rec.(type) {
		case wire.Frame:
			idx := int(binary.BigEndian.Uint64(v.Payload))
			if idx != next {
				for i, r := range recs[:min(len(recs), 5)] {
					t.Logf("rec %d: %s seq %d", i, r.Type(), wire.SeqOf(r))
				}
				t.Fatalf("frame %d (seq %d) arrived, want frame %d", idx, v.Seq, next)
			}
			if want := idx%p.gop == 0; v.Key != want {
				t.Errorf("frame %d key = %v, want %v", idx, v.Key, want)
			}
			if afterGap && !v.Key {
				t.Errorf("frame %d after a gap is not a keyframe", idx)
			}
			if v.Segment != uint32(idx/p.seg) {
				t.Errorf("frame %d segment = %d, want %d", idx, v.Segment, idx/p.seg)
			}
			afterGap = false
			next++
			got++
		case wire.Gap:
			next += int(v.Frames)
			lost += int(v.Frames)
			afterGap = true
		case wire.SegmentEnd:
			if v.Segment != uint32(ends) {
				t.Errorf("segment end for %d, want %d", v.Segment, ends)
			}
			ends++
		}
	}
	if next != p.n {
		t.Errorf("received and lost frames add up to %d, produced %d", next, p.n)
	}
	if want := p.n / p.seg; ends != want {
		t.Errorf("%d segment ends, want %d", ends, want)
	}
	return got, lost
}

// logSink is a slog handler tests can wait on.
type logSink struct {
	mu    sync.Mutex
	lines []string
	ch    chan struct{} // closed and replaced on every line
}

func newLogSink() *logSink { return &logSink{ch: make(chan struct{})} }

func (l *logSink) Enabled(context.Context, slog.Level) bool { return true }
func (l *logSink) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logSink) WithGroup(string) slog.Handler            { return l }
func (l *logSink) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	l.mu.Lock()
	l.lines = append(l.lines, b.String())
	close(l.ch)
	l.ch = make(chan struct{})
	l.mu.Unlock()
	return nil
}

// waitFor returns the first log line containing sub, failing the test if
// none appears within the test's patience.
func (l *logSink) waitFor(t *testing.T, sub string) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		l.mu.Lock()
		for _, s := range l.lines {
			if strings.Contains(s, sub) {
				l.mu.Unlock()
				return s
			}
		}
		ch := l.ch
		l.mu.Unlock()
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("no log line containing %q; got:\n%s", sub, strings.Join(l.lines, "\n"))
		}
	}
}

// startSender runs a sender with fast backoff against addr.
func startSender(t *testing.T, cfg Config) (*Sender, *logSink) {
	t.Helper()
	sink := newLogSink()
	cfg.Hello = testHello()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(sink)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	s.retry = backoff.Backoff{Min: time.Millisecond, Max: 5 * time.Millisecond, Stable: 5 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v, want nil", err)
		}
	})
	return s, sink
}

// drain waits for all acks with a generous bound that only a bug hits.
func drain(t *testing.T, s *Sender) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Drain(ctx); err != nil {
		t.Fatalf("Drain() = %v; counters %v, %+v", err, s.Counters(), s.Counters())
	}
}

// cutConn closes its connection after a set number of bytes in either
// direction, mid-record if that is where the count ends.
type cutConn struct {
	net.Conn
	mu           sync.Mutex
	wLeft, rLeft int
}

var errCut = errors.New("test: connection cut")

func (c *cutConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	n := min(len(p), c.wLeft)
	c.wLeft -= n
	c.mu.Unlock()
	m, err := c.Conn.Write(p[:n])
	if err == nil && n < len(p) {
		c.Conn.Close()
		err = errCut
	}
	return m, err
}

func (c *cutConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	n := min(len(p), c.rLeft)
	c.mu.Unlock()
	if n == 0 {
		c.Conn.Close()
		return 0, errCut
	}
	m, err := c.Conn.Read(p[:n])
	c.mu.Lock()
	c.rLeft -= m
	c.mu.Unlock()
	return m, err
}
