package recv

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camwire/camwire/capture"
	"github.com/camwire/camwire/internal/syncbuf"
	"github.com/camwire/camwire/mp4"
	"github.com/camwire/camwire/mp4/mp4test"
	"github.com/camwire/camwire/recv/recvtest"
	"github.com/camwire/camwire/segment"
	"github.com/camwire/camwire/sender"
	"github.com/camwire/camwire/wire"
)

// clipAUs is the real test clip cut by a Splitter, each AU with the
// NAL table the Splitter found.
func clipAUs(t *testing.T) []segment.AU {
	clip, err := os.ReadFile("../capture/testclip.h264")
	if err != nil {
		t.Fatal(err)
	}
	var sp segment.Splitter
	aus, err := sp.Write(clip, 0)
	if err != nil {
		t.Fatal(err)
	}
	return append(aus, sp.Flush()...)
}

// TestNALTablesSameFile: the receiver's MP4 file of the real test clip is
// byte for byte the same whether the frames come without NAL tables (a
// sender before 1.3, or one whose camera gives whole buffers), with the
// Splitter's tables, or with every 5th table wrong, which the receiver
// refuses (logging the first mismatch once, and the count when the
// connection ends) and searches those frames instead. ffprobe decodes
// every frame.
func TestNALTablesSameFile(t *testing.T) {
	aus := clipAUs(t)
	now := func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	var files [][]byte
	for _, mode := range []string{"none", "tables", "wrong"} {
		dir := t.TempDir()
		// Synced only at the segment's end, so the fragments are cut by
		// the frames' times alone, the same in every run.
		ts := startServer(t, dir, func(s *Server) {
			s.Sink, s.Now, s.SyncInterval, s.SyncBytes = &mp4.Sink{}, now, time.Hour, 1<<30
		})
		hello := wire.Hello{Name: "cam", StreamID: [16]byte{9}, Codec: "h264", Width: capture.ClipWidth,
			Height: capture.ClipHeight, FPSNum: capture.ClipFPS, FPSDen: 1}
		cam, err := recvtest.Dial(ts.addr, hello, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		cam.Discard()
		wrong := 0
		for i, au := range aus {
			f := wire.Frame{TimeUS: int64(i) * 1e6 / capture.ClipFPS, Key: au.Key, Payload: au.Data}
			switch {
			case mode == "tables":
				f.NALs = wire.AppendNALTable(nil, au.NALs)
			case mode == "wrong" && i%5 == 2:
				starts := append([]uint32(nil), au.NALs...)
				starts[0] = 5 // after the opening start code's 4th byte
				f.NALs = wire.AppendNALTable(nil, starts)
				wrong++
			case mode == "wrong":
				f.NALs = wire.AppendNALTable(nil, au.NALs)
			}
			if err := cam.SendFrame(f); err != nil {
				t.Fatal(err)
			}
		}
		cam.Send(wire.SegmentEnd{Seq: uint64(len(aus) + 1), Segment: 0, Frames: uint32(len(aus))})
		ts.waitFiles(t, 1, 20*time.Second)
		cam.Close()
		ts.stop(t)
		got := finished(t, filepath.Join(dir, "cam"), ".mp4")
		if len(got) != 1 {
			t.Fatalf("%s: files %v, want one", mode, got)
		}
		b, err := os.ReadFile(got[0])
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, b)
		logs := ts.logs.String()
		if n := strings.Count(logs, "does not match its frame"); n != min(wrong, 1) {
			t.Errorf("%s: %d log lines about a mismatched table, want %d:\n%s", mode, n, min(wrong, 1), logs)
		}
		if wrong > 0 && !strings.Contains(logs, fmt.Sprintf("frames=%d", wrong)) { // the count, when the connection ended
			t.Errorf("%s: log does not count the %d mismatched tables:\n%s", mode, wrong, logs)
		}
		if mode == "none" {
			if p := mp4test.Probe(t, got[0]); p.Stderr != "" || p.Frames != len(aus) {
				t.Errorf("ffprobe: %d frames, stderr %q; want %d, silent", p.Frames, p.Stderr, len(aus))
			}
		}
	}
	if !bytes.Equal(files[1], files[0]) || !bytes.Equal(files[2], files[0]) {
		t.Errorf("files differ: %d bytes without tables, %d with, %d with wrong ones", len(files[0]), len(files[1]), len(files[2]))
	}
}

// TestSenderSendsNALTables: the real sender, given the Splitter's access
// units, sends every frame with its NAL table to this (1.3) receiver,
// which finds none wrong; the MP4 it writes decodes.
func TestSenderSendsNALTables(t *testing.T) {
	aus := clipAUs(t)
	var tables, frames atomic.Int64
	dir := t.TempDir()
	ts := startServer(t, dir, func(s *Server) {
		s.Sink = &mp4.Sink{}
		s.OnFrame = func(_ string, _ wire.Hello, f wire.Frame) {
			frames.Add(1)
			if f.NALs != nil && f.NALs.Check(f.Payload) == nil {
				tables.Add(1)
			}
		}
	})
	hello := wire.Hello{Name: "cam", StreamID: [16]byte{8}, Codec: "h264", Width: capture.ClipWidth,
		Height: capture.ClipHeight, FPSNum: capture.ClipFPS, FPSDen: 1}
	s, err := sender.New(sender.Config{Addr: ts.addr, Hello: hello, Logger: slog.New(slog.NewTextHandler(&syncbuf.Buffer{}, nil)),
		Dial: func(ctx context.Context, addr string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for i, au := range aus {
		au.Time = time.Duration(i) * time.Second / capture.ClipFPS
		s.FrameAU(1, au)
	}
	s.EndSegment(1, uint32(len(aus)))
	dctx, dcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer dcancel()
	if err := s.Drain(dctx); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	files := ts.waitFiles(t, 1, 20*time.Second)
	if n, m := tables.Load(), frames.Load(); n != int64(len(aus)) || m != int64(len(aus)) {
		t.Errorf("%d of %d frames came with a NAL table that checks out, want all %d", n, m, len(aus))
	}
	if strings.Contains(ts.logs.String(), "does not match") {
		t.Errorf("receiver refused a table:\n%s", ts.logs)
	}
	if p := mp4test.Probe(t, files[0]); p.Stderr != "" || p.Frames != len(aus) {
		t.Errorf("ffprobe: %d frames, stderr %q; want %d, silent", p.Frames, p.Stderr, len(aus))
	}
}
