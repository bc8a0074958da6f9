package recv

import (
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camwire/camwire/capture"
	"github.com/camwire/camwire/internal/syncbuf"
	"github.com/camwire/camwire/mp4"
	"github.com/camwire/camwire/segment"
	"github.com/camwire/camwire/sender"
	"github.com/camwire/camwire/wire"
)

// virtualClock is real time plus jumps the test makes: frames 20 s
// apart are produced in microseconds, yet both ends read one clock,
// and real network delays stay what they are.
type virtualClock struct {
	mu   sync.Mutex
	jump time.Duration
}

func (v *virtualClock) now() time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return time.Now().Add(v.jump) // keeps the monotonic reading
}

func (v *virtualClock) advance(d time.Duration) {
	v.mu.Lock()
	v.jump += d
	v.mu.Unlock()
}

// TestCaptureTimeNamesAfterOutage: a camera whose capture clock started
// at its boot 37 s "ago" and runs 300 ppm fast records with a receiver
// that goes away for 20 s while the camera buffers, then comes back as
// a new process. Every file is named by its first frame's capture time
// (within 100 ms, at the name's one-second resolution), the MP4s say the
// same in mvhd and in each fragment's prft, and ffprobe shows it.
func TestCaptureTimeNamesAfterOutage(t *testing.T) {
	var aus []segment.AU
	src := &capture.TestSource{Fast: true, Loops: 1}
	if err := src.Run(context.Background(), func(au segment.AU) { aus = append(aus, au) }); err != nil {
		t.Fatal(err)
	}
	v := &virtualClock{}
	t0 := v.now()
	const drift = 300e-6
	boot := 37*time.Second + 654321*time.Microsecond
	camera := func(at time.Time) time.Duration {
		el := at.Sub(t0)
		return boot + el + time.Duration(float64(el)*drift)
	}

	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	logs := &syncbuf.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", logs)
		}
	})
	serve := func(ln net.Listener) (stop func()) {
		srv := &Server{Dir: dir, Sink: &mp4.Sink{}, Logger: log, Now: v.now,
			SyncInterval: 20 * time.Millisecond, SyncBytes: 64 << 10}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ctx, ln) }()
		return func() {
			cancel()
			if err := <-done; err != nil && !strings.Contains(err.Error(), "closed") {
				t.Errorf("Serve() = %v", err)
			}
		}
	}
	stopA := serve(ln)

	hello := wire.Hello{Name: "garden", StreamID: [16]byte{7, 7}, Codec: "h264", Width: capture.ClipWidth,
		Height: capture.ClipHeight, FPSNum: capture.ClipFPS, FPSDen: 1}
	s, err := sender.New(sender.Config{Addr: addr, Hello: hello, Logger: log,
		Clock: func() time.Duration { return camera(v.now()) }})
	if err != nil {
		t.Fatal(err)
	}
	sctx, stopSend := context.WithCancel(context.Background())
	sendDone := make(chan error, 1)
	go func() { sendDone <- s.Run(sctx) }()
	defer func() { stopSend(); <-sendDone }()

	seg := segment.Segmenter{Length: 2 * time.Second}
	var starts []time.Time // true capture time of each segment's first frame
	frame := 0
	last := uint32(1<<32 - 1)
	produce := func(n int) {
		for range n {
			v.advance(time.Second / capture.ClipFPS)
			truth := v.now()
			au := aus[frame%len(aus)]
			frame++
			au.Time = camera(truth)
			ended, num, out, ok := seg.Push(au)
			if ended != nil {
				s.EndSegment(ended.Segment, ended.Frames)
			}
			if !ok {
				continue
			}
			if num != last {
				last = num
				starts = append(starts, truth)
			}
			s.Frame(num, out.Time.Microseconds(), out.Key, out.Data)
		}
	}
	drain := func(what string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := s.Drain(ctx); err != nil {
			t.Fatalf("%s: %v (%+v)", what, err, s.Counters())
		}
	}

	// The first clock sample is the handshake's; the virtual clock must
	// not jump while that round trip is in flight (a jump inside it
	// widens its error bound by the jump, and one 33 ms jump per frame
	// produced in a burst made it half a second on a loaded machine).
	// The sender is past its Welcome only after the receiver took the
	// sample, so frames are produced from then on (and after the outage
	// only once the sender has seen the old connection go).
	connected := func(what string, want bool) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for {
			ch := s.Changed()
			if s.Counters().Connected == want {
				return
			}
			select {
			case <-ch:
			case <-deadline:
				t.Fatalf("%s: the sender's Connected did not become %v: %+v", what, want, s.Counters())
			}
		}
	}

	connected("first connection", true)
	produce(3 * capture.ClipFPS) // 3 s live
	drain("live before the outage")
	stopA()
	connected("the receiver gone", false)
	produce(20 * capture.ClipFPS) // the receiver is away 20 s; the camera buffers
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", addr, err)
	}
	stopB := serve(ln2) // a new receiver process: it knows nothing of the clock
	connected("after the outage", true)
	produce(2 * capture.ClipFPS)
	if e := seg.Close(); e != nil {
		s.EndSegment(e.Segment, e.Frames)
	}
	drain("after the outage")
	stopB()

	files, _ := filepath.Glob(filepath.Join(dir, "garden", "*.mp4"))
	sort.Strings(files)
	if len(files) != len(starts) {
		t.Fatalf("%d files %v, want %d (one per segment)", len(files), files, len(starts))
	}
	const tolerance = 100 * time.Millisecond
	for i, f := range files {
		truth := starts[i]
		name, err := time.Parse(timeLayout, strings.SplitN(filepath.Base(f), "-", 2)[0])
		if err != nil {
			t.Fatalf("file %s: %v", f, err)
		}
		// The name is the mapped time cut to the second: it must be the
		// second of some time within the tolerance of the truth.
		if name.After(truth.Add(tolerance)) || !name.Add(time.Second).After(truth.Add(-tolerance)) {
			t.Errorf("segment %d captured at %s is named %s", i, truth.UTC().Format("15:04:05.000"), filepath.Base(f))
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		created, prfts := mp4Times(t, b)
		if want := truth.Truncate(time.Second); created.Sub(want).Abs() > time.Second {
			t.Errorf("%s: mvhd creation time %s, want the second of %s", filepath.Base(f), created, truth.UTC())
		}
		if len(prfts) == 0 {
			t.Errorf("%s: no prft box", filepath.Base(f))
			continue
		}
		if d := prfts[0].wall.Sub(truth); d.Abs() > tolerance {
			t.Errorf("%s: first fragment's prft says %s, captured at %s (%v off)", filepath.Base(f), prfts[0].wall.Format("15:04:05.000"), truth.UTC().Format("15:04:05.000"), d)
		}
		// Later fragments: the sink starts a fragment where the last one
		// ended, so a pause in the stamps at a boundary moves its first
		// frame's capture time later than its media time says, never
		// earlier.
		for k, p := range prfts[1:] {
			media := time.Duration(p.media-prfts[0].media) * time.Second / mp4.TimeScale
			if d := p.wall.Sub(prfts[0].wall) - media; d < -tolerance || !p.wall.After(prfts[k].wall) {
				t.Errorf("%s: prft %d at media time %v says %s, %v before the first one's plus media time", filepath.Base(f), k+1, media, p.wall.Format("15:04:05.000"), -d)
			}
		}
	}
	// The console's lines for a person (ConsoleKey).
	for _, want := range []string{
		`console="garden: recording ` + clockOf(starts[0]) + `"`,
		`console="garden: 0:02 min, `,
		`console="garden: camera buffer `,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log has no %s", want)
		}
	}
	// Away 20 s, plus the 2 s captured before the sender's reconnect.
	if !regexp.MustCompile(`% — laptop was away 2[0-3] s"`).MatchString(logs.String()) {
		t.Errorf("log has no camera buffer line saying the laptop was away 20-23 s")
	}
	if n := len(starts); n < 10 {
		t.Errorf("only %d segments; the test wants several inside the outage", n)
	}
}

type prft struct {
	wall  time.Time
	media uint64
}

// mp4Times reads mvhd's creation time and every top-level prft box.
func mp4Times(t *testing.T, b []byte) (created time.Time, prfts []prft) {
	t.Helper()
	for len(b) >= 8 {
		n := int(binary.BigEndian.Uint32(b))
		if n < 8 || n > len(b) {
			t.Fatalf("bad box size %d", n)
		}
		switch string(b[4:8]) {
		case "moov":
			m := b[8:n]
			for len(m) >= 8 {
				mn := int(binary.BigEndian.Uint32(m))
				if string(m[4:8]) == "mvhd" {
					secs := int64(binary.BigEndian.Uint32(m[12:]))
					created = time.Unix(secs-2082844800, 0).UTC()
				}
				m = m[mn:]
			}
		case "prft":
			if b[8] != 1 {
				t.Fatalf("prft version %d, want 1", b[8])
			}
			prfts = append(prfts, prft{wall: mp4.FromNTP(binary.BigEndian.Uint64(b[16:])), media: binary.BigEndian.Uint64(b[24:])})
		}
		b = b[n:]
	}
	return created, prfts
}

// A 1.1 sender gets no ping, so it is never asked for a Clock it does
// not know, and it is welcomed without one; a 1.2 sender is pinged.
func TestClockPingOnlyFor12(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil)
	for _, minor := range []uint8{0, 1, wire.Minor} {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		hello := wire.Hello{Name: "old", StreamID: [16]byte{minor + 1}, Codec: "h264"}
		if _, err := c.Write(wire.Append(wire.AppendPreambleMinor(nil, minor), hello)); err != nil {
			t.Fatal(err)
		}
		rd := wire.NewReader(c, wire.Limits{})
		r, err := rd.Next()
		if err != nil {
			t.Fatal(err)
		}
		ch := r.(wire.Challenge)
		if pinged := ch.Ping != 0; pinged != (minor >= 2) {
			t.Errorf("sender 1.%d: Challenge.Ping = %d, want a ping only for 1.2", minor, ch.Ping)
		}
		b := wire.Append(nil, wire.Auth{})
		if ch.Ping != 0 {
			b = wire.Append(b, wire.Clock{Echo: ch.Ping, PingInUS: 5_000_000, OutUS: 5_000_100})
		}
		c.Write(b)
		if r, err := rd.Next(); err != nil || r.Type() != wire.TypeWelcome {
			t.Errorf("sender 1.%d: got %v, %v; want a welcome", minor, r, err)
		}
		c.Close()
	}
}
