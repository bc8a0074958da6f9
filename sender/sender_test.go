package sender

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camwire/camwire/internal/backoff"
	"github.com/camwire/camwire/wire"
)

func tcpDial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}

// TestCutsEverywhere cuts the connection at seeded random byte counts in
// both directions — inside the handshake, inside frame headers and
// payloads, inside acks — and sometimes makes the receiver forget what it
// had not acknowledged. Every frame must still arrive exactly once, in
// order, and the sender never resends what the receiver has.
func TestCutsEverywhere(t *testing.T) {
	var cutTotal atomic.Int64 // connections that failed, over all seeds
	t.Cleanup(func() {
		if n := cutTotal.Load(); n < 100 {
			t.Errorf("only %d connections were cut over all seeds, want at least 100", n)
		}
	})
	for seed := uint64(1); seed <= 24; seed++ {
		t.Run("", func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 0))
			var rngMu sync.Mutex
			intn := func(n int) int {
				rngMu.Lock()
				defer rngMu.Unlock()
				return rng.IntN(n)
			}
			rcv := newTestRecv(t, "127.0.0.1:0")
			rcv.forgetUnacked = func() bool { return intn(2) == 0 }
			rcv.start()
			var dials atomic.Int32
			const cuts = 12
			dial := func(ctx context.Context, addr string) (net.Conn, error) {
				c, err := tcpDial(ctx, addr)
				if err != nil || dials.Add(1) > cuts {
					return c, err
				}
				// Sizes spread over orders of magnitude: some cuts land
				// in the preamble, some deep in the stream.
				cc := &cutConn{Conn: c, wLeft: 1 << 30, rLeft: 1 << 30}
				switch intn(3) {
				case 0:
					cc.wLeft = intn(1 << intn(18))
				case 1:
					cc.rLeft = intn(1 << intn(8))
				default:
					cc.wLeft, cc.rLeft = intn(1<<intn(18)), intn(1<<intn(8))
				}
				return cc, nil
			}
			s, sink := startSender(t, Config{Addr: rcv.Addr(), Dial: dial})
			defer func() {
				if t.Failed() {
					for _, l := range sink.lines {
						t.Log(l)
					}
					t.Logf("welcomes %v", rcv.welcomes)
				}
			}()
			p := &producer{gop: 10, seg: 45, size: 3000}
			for range 10 {
				p.frames(s, 30)
			}
			drain(t, s)
			recs, dups := rcv.snapshot()
			got, lost := verify(t, p, recs)
			if got != p.n || lost != 0 {
				t.Errorf("received %d frames, %d in gaps; want %d, 0", got, lost, p.n)
			}
			if dups != 0 {
				t.Errorf("receiver saw %d duplicate records, want 0 (resume must start at Welcome.Acked+1)", dups)
			}
			c := s.Counters()
			if c.Captured != uint64(p.n) || c.Acked != uint64(p.n) || c.Dropped != 0 || c.Sent < c.Acked {
				t.Errorf("counters %v, want captured=acked=%d dropped=0 sent>=acked", c, p.n)
			}
			if c.BufferUsed != 0 {
				t.Errorf("BufferUsed = %d after everything was acked, want 0", c.BufferUsed)
			}
			cutTotal.Add(int64(dials.Load()) - 1)
		})
	}
}

// switchDial connects to the real address while up; while down it fails
// like an unplugged cable. cut ends the live connection.
type switchDial struct {
	down atomic.Bool
	mu   sync.Mutex
	last net.Conn
}

func (d *switchDial) dial(ctx context.Context, addr string) (net.Conn, error) {
	if d.down.Load() {
		return nil, errors.New("test: receiver unreachable")
	}
	c, err := tcpDial(ctx, addr)
	d.mu.Lock()
	d.last = c
	d.mu.Unlock()
	return c, err
}

func (d *switchDial) cut() {
	d.down.Store(true)
	d.mu.Lock()
	if d.last != nil {
		d.last.Close()
	}
	d.mu.Unlock()
}

// TestOutageLongerThanBuffer records through an outage that overflows the
// buffer: the loss is counted exactly, whole GOPs go (every gap is
// followed by a keyframe), and recording carries on afterwards.
func TestOutageLongerThanBuffer(t *testing.T) {
	rcv := newTestRecv(t, "127.0.0.1:0").start()
	sw := &switchDial{}
	const budget = 80 << 10 // about 40 frames of the producer below
	s, _ := startSender(t, Config{Addr: rcv.Addr(), Dial: sw.dial, BufferBytes: budget})
	p := &producer{gop: 10, seg: 100, size: 3000}
	p.frames(s, 50)
	drain(t, s)

	sw.cut()
	p.frames(s, 400) // ten times the buffer
	c := s.Counters()
	if c.Dropped == 0 {
		t.Fatalf("Dropped = 0 after an outage of 10x the buffer; counters %v", c)
	}
	if c.BufferUsed > budget {
		t.Errorf("BufferUsed = %d, bound %d", c.BufferUsed, budget)
	}
	sw.down.Store(false)
	drain(t, s) // what survived in the buffer
	for range 5 {
		// In steps the buffer holds: a burst of 50 would overflow it again.
		p.frames(s, 10)
		drain(t, s)
	}

	recs, dups := rcv.snapshot()
	got, lost := verify(t, p, recs)
	c = s.Counters()
	if uint64(lost) != c.Dropped {
		t.Errorf("gaps report %d lost frames, Dropped = %d", lost, c.Dropped)
	}
	if got+lost != p.n || c.Acked != uint64(got) {
		t.Errorf("received %d + lost %d, produced %d, acked %d", got, lost, p.n, c.Acked)
	}
	if dups != 0 {
		t.Errorf("%d duplicates, want 0", dups)
	}
	// Recording went on: the frames after the outage all arrived.
	if f, ok := recs[len(recs)-1].(wire.SegmentEnd); !ok || f.Segment != uint32(p.n/p.seg-1) {
		t.Errorf("last record %#v, want the end of segment %d", recs[len(recs)-1], p.n/p.seg-1)
	}
	tail := 0
	for i := len(recs) - 1; i >= 0; i-- {
		if _, ok := recs[i].(wire.Gap); ok {
			break
		}
		if _, ok := recs[i].(wire.Frame); ok {
			tail++
		}
	}
	if tail < 50 {
		t.Errorf("%d frames after the last gap, want at least the 50 produced after the outage", tail)
	}
}

// TestReceiverRestart kills the receiver with records in flight and starts
// a new one on the same address from what the old one had acknowledged:
// the sender resumes at Welcome.Acked+1, with no loss and no duplicates.
func TestReceiverRestart(t *testing.T) {
	a := newTestRecv(t, "127.0.0.1:0").start()
	s, sink := startSender(t, Config{Addr: a.Addr()})
	p := &producer{gop: 10, seg: 40, size: 3000}
	p.frames(s, 100)
	drain(t, s)
	a.mu.Lock()
	a.noAck = true
	a.mu.Unlock()
	p.frames(s, 60)
	// Wait until the old receiver holds unacknowledged records, so the
	// new one's Welcome.Acked is behind what was sent.
	a.waitUntil(t, "unacknowledged records", func() bool { return a.last > a.durable })
	a.Close()
	acked := a.durable

	b := newTestRecv(t, a.Addr())
	b.restartFrom(a)
	b.start()
	p.frames(s, 60)
	drain(t, s)

	recs, dups := b.snapshot()
	if got, lost := verify(t, p, recs); got != p.n || lost != 0 {
		t.Errorf("received %d, lost %d; want %d, 0", got, lost, p.n)
	}
	if dups != 0 {
		t.Errorf("new receiver saw %d duplicates, want 0", dups)
	}
	b.mu.Lock()
	w := b.welcomes[0]
	b.mu.Unlock()
	if w != acked {
		t.Errorf("new receiver's first Welcome.Acked = %d, want %d", w, acked)
	}
	sink.waitFor(t, "resume_after="+itoa(acked))
	if c := s.Counters(); c.Acked != uint64(p.n) || c.Connects < 2 {
		t.Errorf("counters %+v, want acked=%d and at least 2 connects", c, p.n)
	}
}

func itoa(v uint64) string { return string(appendUint(nil, v)) }

func appendUint(b []byte, v uint64) []byte {
	if v >= 10 {
		b = appendUint(b, v/10)
	}
	return append(b, byte('0'+v%10))
}

func TestRejectIsLogged(t *testing.T) {
	rcv := newTestRecv(t, "127.0.0.1:0")
	rcv.reject = "camwire-recv speaks protocol 2.0, this camera 1.0: update the camera"
	rcv.start()
	s, sink := startSender(t, Config{Addr: rcv.Addr()})
	s.Frame(0, 0, true, []byte{0, 0, 0, 1, 0x65})
	line := sink.waitFor(t, rcv.reject)
	if want := "ERROR"; line[:len(want)] != want {
		t.Errorf("reject logged as %q, want level ERROR", line)
	}
	if c := s.Counters(); c.Connected || c.Sent != 0 {
		t.Errorf("counters %+v after reject, want not connected, nothing sent", c)
	}
}

func TestAuth(t *testing.T) {
	tests := []struct {
		name      string
		recvKey   []byte
		senderKey []byte
		wantLog   string // empty: must connect and drain
	}{
		{"right key", []byte("sesame"), []byte("sesame"), ""},
		{"key not required", nil, []byte("sesame"), ""},
		{"wrong key", []byte("sesame"), []byte("open"), "bad key for camera testcam"},
		{"no key", []byte("sesame"), nil, "requires a shared key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := newTestRecv(t, "127.0.0.1:0")
			rcv.key = tt.recvKey
			rcv.start()
			s, sink := startSender(t, Config{Addr: rcv.Addr(), Key: tt.senderKey})
			s.Frame(0, 0, true, []byte{0, 0, 0, 1, 0x65})
			if tt.wantLog == "" {
				drain(t, s)
				return
			}
			sink.waitFor(t, tt.wantLog)
			if recs, _ := rcv.snapshot(); len(recs) != 0 {
				t.Errorf("receiver stored %d records from an unauthenticated sender", len(recs))
			}
		})
	}
}

// TestBackoffCapped records the waits between failed dials: doubling from
// 100 ms, never above 2 s.
func TestBackoffCapped(t *testing.T) {
	var (
		mu    sync.Mutex
		waits []time.Duration
		dials int
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := New(Config{
		Addr: "192.0.2.1:10401", Hello: testHello(), Logger: discardLogger(),
		Dial: func(context.Context, string) (net.Conn, error) {
			mu.Lock()
			defer mu.Unlock()
			if dials++; dials == 10 {
				cancel()
			}
			return nil, errors.New("test: no route to host")
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.sleep = func(_ context.Context, d time.Duration) bool {
		mu.Lock()
		waits = append(waits, d)
		mu.Unlock()
		return true
	}
	if err := s.Run(ctx); err != nil {
		t.Fatalf("Run() = %v, want nil after cancel", err)
	}
	want := []time.Duration{100, 200, 400, 800, 1600, 2000, 2000, 2000, 2000}
	if len(waits) != len(want) {
		t.Fatalf("waits = %v, want %d of them", waits, len(want))
	}
	for i := range want {
		if waits[i] != want[i]*time.Millisecond {
			t.Errorf("wait %d = %v, want %v", i, waits[i], want[i]*time.Millisecond)
		}
	}
	if err := s.Run(context.Background()); err == nil {
		t.Error("second Run() = nil, want an error")
	}
}

func TestDrainWaitsForAcks(t *testing.T) {
	rcv := newTestRecv(t, "127.0.0.1:0")
	rcv.noAck = true
	rcv.start()
	s, _ := startSender(t, Config{Addr: rcv.Addr()})
	p := &producer{gop: 5, seg: 10, size: 1000}
	p.frames(s, 10)
	rcv.waitUntil(t, "all records", func() bool { return len(rcv.recs) == 11 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.Drain(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Drain() without acks = %v, want DeadlineExceeded", err)
	}
	if c := s.Counters(); c.Acked != 0 || c.BufferUsed == 0 {
		t.Errorf("counters %+v before acks, want acked=0 and data buffered", c)
	}
	rcv.mu.Lock()
	rcv.noAck = false
	rcv.mu.Unlock()
	drain(t, s)
	if c := s.Counters(); c.Acked != 10 || c.BufferUsed != 0 || c.LastAck.IsZero() {
		t.Errorf("counters %+v after Drain, want acked=10, empty buffer, LastAck set", c)
	}
}

// TestStalledReceiver: a receiver that reads but never acknowledges is
// left for a new connection after AckTimeout.
func TestStalledReceiver(t *testing.T) {
	rcv := newTestRecv(t, "127.0.0.1:0")
	rcv.noAck = true
	rcv.start()
	s, sink := startSender(t, Config{Addr: rcv.Addr(), AckTimeout: 40 * time.Millisecond})
	s.Frame(0, 0, true, []byte{0, 0, 0, 1, 0x65})
	sink.waitFor(t, "no acknowledgement")
	rcv.waitUntil(t, "a second connection", func() bool { return len(rcv.welcomes) >= 2 })
}

func TestStatsAndLogs(t *testing.T) {
	rcv := newTestRecv(t, "127.0.0.1:0").start()
	s, _ := startSender(t, Config{
		Addr: rcv.Addr(), StatsEvery: 5 * time.Millisecond,
		Temp: func() (int32, bool) { return 51234, true },
	})
	s.Log(wire.LevelWarn, "camwire.txt line 3: fps: not a number")
	p := &producer{gop: 5, seg: 10, size: 1000}
	p.frames(s, 10)
	drain(t, s)
	rcv.waitUntil(t, "stats showing all acked", func() bool {
		n := len(rcv.stats)
		return n > 0 && rcv.stats[n-1].Acked == 10
	})
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	st := rcv.stats[len(rcv.stats)-1]
	if st.Captured != 10 || st.TempMilliC != 51234 || st.BufferSize != DefaultBufferBytes {
		t.Errorf("stats %+v, want captured=10 temp=51234 size=%d", st, DefaultBufferBytes)
	}
	if len(rcv.logs) != 1 || rcv.logs[0].Message != "camwire.txt line 3: fps: not a number" || rcv.logs[0].Level != wire.LevelWarn {
		t.Errorf("logs %+v, want the one warning", rcv.logs)
	}
}

func TestLogQueueBounded(t *testing.T) {
	s := newBufferSender(t, 1<<20)
	for i := range 100 {
		s.Log(wire.LevelInfo, itoa(uint64(i)))
	}
	b := &batch{}
	s.gather(b)
	if n := len(b.parts); n != maxLogs+1 {
		t.Errorf("gathered %d records, want %d logs and one about the lost ones", n, maxLogs)
	}
}

func TestNewValidates(t *testing.T) {
	bad := testHello()
	bad.Name = "../etc"
	noID := testHello()
	noID.StreamID = [16]byte{}
	tests := []struct {
		name string
		cfg  Config
	}{
		{"bad name", Config{Addr: "h:1", Hello: bad}},
		{"no address", Config{Hello: testHello()}},
		{"zero stream ID", Config{Addr: "h:1", Hello: noID}},
		{"negative buffer", Config{Addr: "h:1", Hello: testHello(), BufferBytes: -1}},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg); err == nil {
			t.Errorf("New(%s) = nil error, want one", tt.name)
		}
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// testRecv speaks protocol 1.0: it sends no ping, and fails the test on
// any record type it does not know. A 1.2 sender must send it no Clock.
func TestOldReceiverGetsNoClock(t *testing.T) {
	r := newTestRecv(t, "127.0.0.1:0").start()
	s, _ := startSender(t, Config{Addr: r.Addr()})
	p := &producer{gop: 10, seg: 40, size: 3000}
	p.frames(s, 100)
	drain(t, s)
	recs, _ := r.snapshot()
	if got, lost := verify(t, p, recs); got != p.n || lost != 0 {
		t.Errorf("received %d, lost %d; want %d, 0", got, lost, p.n)
	}
}

// TestPingReplyWithoutFrames: the reply to an Ack's ping waits for the
// next batch rather than waking the writer, so it must still go out when
// no frame follows (with the next Stats), answer that ping, and say how
// long it was held.
func TestPingReplyWithoutFrames(t *testing.T) {
	r := newTestRecv(t, "127.0.0.1:0")
	r.minor, r.ping = wire.MinorNALTable, true
	r.start()
	s, _ := startSender(t, Config{Addr: r.Addr(), StatsEvery: 20 * time.Millisecond})
	s.Frame(0, 0, true, []byte{0, 0, 0, 1, 0x65, 1})
	drain(t, s) // the ack that acknowledges it carries ping 1; no frame follows
	var c wire.Clock
	r.waitUntil(t, "the reply to ping 1", func() bool {
		for _, v := range r.clocks {
			if v.Echo == 1 {
				c = v
				return true
			}
		}
		return false
	})
	if c.OutUS < c.PingInUS {
		t.Errorf("reply %+v left before its ping arrived", c)
	}
}

// TestRedialEndsThePause: while the network is not up yet every dial
// fails and the backoff pause grows; Redial (the address came) ends the
// pause, so the sender connects at once instead of after it.
func TestRedialEndsThePause(t *testing.T) {
	rcv := newTestRecv(t, "127.0.0.1:0").start()
	sw := &switchDial{}
	sw.down.Store(true)
	failed := make(chan struct{}, 1)
	s, err := New(Config{Addr: rcv.Addr(), Hello: testHello(), Logger: slog.New(slog.DiscardHandler),
		Dial: func(ctx context.Context, addr string) (net.Conn, error) {
			c, err := sw.dial(ctx, addr)
			if err != nil {
				select {
				case failed <- struct{}{}:
				default:
				}
			}
			return c, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	s.retry = backoff.Backoff{Min: time.Hour, Max: time.Hour} // only Redial can end it
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-failed // the first dial failed: the sender pauses for an hour
	sw.down.Store(false)
	s.Redial()
	s.Frame(0, 0, true, []byte{0, 0, 0, 1, 0x65, 1})
	dctx, dcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer dcancel()
	if err := s.Drain(dctx); err != nil {
		t.Fatalf("Drain after Redial: %v (counters %+v)", err, s.Counters())
	}
}

// TestAddrGoneReconnects: when the address a connection was made from
// goes away, the sender drops that connection and reconnects at once
// (backoff and ack timeout are an hour here); another address going away
// leaves the connection alone.
func TestAddrGoneReconnects(t *testing.T) {
	rcv := newTestRecv(t, "127.0.0.1:0").start()
	local := netip.MustParseAddr("127.0.0.2") // Linux answers all of 127/8
	d := &net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 0))}
	s, err := New(Config{Addr: rcv.Addr(), Hello: testHello(), Logger: slog.New(slog.DiscardHandler),
		AckTimeout: time.Hour,
		Dial: func(ctx context.Context, addr string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", addr)
		}})
	if err != nil {
		t.Fatal(err)
	}
	s.retry = backoff.Backoff{Min: time.Hour, Max: time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for i, tc := range []struct {
		gone     string
		connects uint64
	}{
		{gone: "", connects: 1},
		{gone: "127.0.0.3", connects: 1},
		{gone: "127.0.0.2", connects: 2},
	} {
		if tc.gone != "" {
			s.AddrGone(netip.MustParseAddr(tc.gone))
		}
		s.Frame(0, int64(i), true, []byte{0, 0, 0, 1, 0x65, byte(i)})
		dctx, dcancel := context.WithTimeout(context.Background(), 20*time.Second)
		err := s.Drain(dctx)
		dcancel()
		if err != nil {
			t.Fatalf("gone %q: Drain: %v (counters %+v)", tc.gone, err, s.Counters())
		}
		if got := s.Counters().Connects; got != tc.connects {
			t.Errorf("gone %q: %d connections, want %d", tc.gone, got, tc.connects)
		}
	}
}

// TestChangedWakesWatchers: Changed's channel closes when a connection is
// made, when the first frame goes out and when it is acknowledged, so a
// watcher (the recorder's state lines) needs no poll to see them.
func TestChangedWakesWatchers(t *testing.T) {
	rcv := newTestRecv(t, "127.0.0.1:0").start()
	s, err := New(Config{Addr: rcv.Addr(), Hello: testHello(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	// wait returns once cond holds, woken only by Changed.
	wait := func(what string, cond func(Counters) bool) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			ch := s.Changed()
			if cond(s.Counters()) {
				return
			}
			select {
			case <-ch:
			case <-deadline:
				t.Fatalf("no Changed wake-up for %s: %+v", what, s.Counters())
			}
		}
	}
	wait("the connection", func(c Counters) bool { return c.Connected })
	s.Frame(0, 0, true, []byte{0, 0, 0, 1, 0x65, 1})
	wait("the first frame sent", func(c Counters) bool { return c.Sent == 1 })
	wait("its ack", func(c Counters) bool { return c.Acked == 1 })
}
