package sender

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/camwire/camwire/capture"
	"github.com/camwire/camwire/recv"
	"github.com/camwire/camwire/segment"
)

// synthStream is an Annex-B stream of frames H.264 framing can split:
// SPS, PPS and an IDR slice every gop frames, P slices between, each
// frame size bytes, with no start code inside a payload.
func synthStream(frames, gop, size int) [][]byte {
	var out [][]byte
	for i := 0; i < frames; i++ {
		var b []byte
		if i%gop == 0 {
			b = append(b, 0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1e, 0xaa)
			b = append(b, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80)
			b = append(b, 0, 0, 0, 1, 0x65, 0x88) // IDR, first_mb_in_slice 0
		} else {
			b = append(b, 0, 0, 0, 1, 0x41, 0x9a) // non-IDR slice, first_mb_in_slice 0
		}
		b = append(b, bytes.Repeat([]byte{0xaa}, size-len(b))...)
		out = append(out, b)
	}
	return out
}

// feed cuts chunks into access units with a real Splitter and Segmenter,
// as the exec source and the recorder do, and hands each to s: by FrameAU
// (in blocks), or with copy by Frame, releasing the AU.
func feed(t *testing.T, s *Sender, chunks [][]byte, copyPath bool) {
	t.Helper()
	var sp segment.Splitter
	seg := segment.Segmenter{Length: time.Second}
	push := func(aus []segment.AU) {
		for _, au := range aus {
			ended, n, out, ok := seg.Push(au)
			if ended != nil {
				s.EndSegment(ended.Segment, ended.Frames)
			}
			if !ok {
				t.Fatalf("segmenter dropped an AU at %v", au.Time)
			}
			if copyPath {
				s.Frame(n, out.Time.Microseconds(), out.Key, out.Data)
				out.Release()
			} else {
				s.FrameAU(n, out)
			}
		}
	}
	for i, c := range chunks {
		aus, err := sp.Write(c, time.Duration(i)*time.Second/30)
		if err != nil {
			t.Fatal(err)
		}
		push(aus)
	}
	push(sp.Flush())
	if e := seg.Close(); e != nil {
		s.EndSegment(e.Segment, e.Frames)
	}
}

// TestSmallBufferKeepsFrames: with no receiver, FrameAU keeps about as
// many frames as the copying Frame for every buffer size camwire.txt
// allows (1 MiB up): a 1 MiB block held for its first frame must not make
// a small buffer drop everything. When every AU stayed in its block,
// FrameAU kept 0, 12 and 26 frames at 1, 2 and 3 MiB, Frame 14, 28, 30.
func TestSmallBufferKeepsFrames(t *testing.T) {
	const frames, gop, size = 60, 30, 66 << 10
	chunks := synthStream(frames, gop, size)
	kept := func(bound int, copyPath bool) (uint64, Counters) {
		s := newBufferSender(t, bound)
		feed(t, s, chunks, copyPath)
		checkInvariants(t, s)
		c := s.Counters()
		if c.Captured != frames {
			t.Fatalf("captured %d frames, want %d", c.Captured, frames)
		}
		if c.BufferUsed > bound {
			t.Errorf("buffer %d: BufferUsed %d over the bound", bound, c.BufferUsed)
		}
		return c.Captured - c.Dropped, c
	}
	for _, mib := range []int{1, 2, 3, 4, 7, 8, 16} {
		bound := mib << 20
		byCopy, _ := kept(bound, true)
		byAU, c := kept(bound, false)
		// About as many: the at most two blocks not yet full may cost a
		// quarter of the buffer.
		if 4*byAU < 3*byCopy || byAU == 0 {
			t.Errorf("buffer %d MiB: FrameAU kept %d frames (%v), Frame %d", mib, byAU, c, byCopy)
		}
		// What the bound allows: the frames that fit, to a GOP (drops are
		// whole GOPs).
		if fit := min(frames, bound/size); int(byCopy)+gop < fit {
			t.Errorf("buffer %d MiB: Frame kept %d frames, %d fit", mib, byCopy, fit)
		}
	}
}

// TestSmallBufferReceiver: at buffer=2MiB with a real receiver nothing
// is dropped: the test clip 8 times over (960 frames, 1.6 MB, so more
// than one of the Splitter's blocks), fed as fast as it is cut.
func TestSmallBufferReceiver(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := &recv.Server{Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		SyncInterval: 50 * time.Millisecond}
	srvDone := make(chan struct{})
	go func() { defer close(srvDone); srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-srvDone })

	s, err := New(Config{Addr: ln.Addr().String(), Hello: testHello(), BufferBytes: 2 << 20,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- s.Run(ctx) }()

	const loops = 8
	clip := capture.TestClip()
	var chunks [][]byte
	for i := 0; i < loops; i++ {
		for c := clip; len(c) > 0; {
			n := min(len(c), 64<<10) // a pipe's worth at a time
			chunks = append(chunks, c[:n])
			c = c[n:]
		}
	}
	feed(t, s, chunks, false)
	dctx, dcancel := context.WithTimeout(context.Background(), time.Minute)
	defer dcancel()
	if err := s.Drain(dctx); err != nil {
		t.Fatalf("drain: %v (%v)", err, s.Counters())
	}
	c := s.Counters()
	if c.Captured != loops*capture.ClipFrames || c.Dropped != 0 || c.Acked != c.Captured {
		t.Errorf("counters %v, want %d captured and acked, none dropped", c, loops*capture.ClipFrames)
	}
	cancel()
	<-runDone
}
