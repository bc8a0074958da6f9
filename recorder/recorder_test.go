package recorder

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camwire/camwire/camconsole"
	"github.com/camwire/camwire/capture"
	"github.com/camwire/camwire/config"
	"github.com/camwire/camwire/internal/ffprobe"
	"github.com/camwire/camwire/internal/syncbuf"
	"github.com/camwire/camwire/recv"
	"github.com/camwire/camwire/sender"
)

// startReceiver runs an in-process camwire-recv on a loopback port.
func startReceiver(t *testing.T) (addr, dir string) {
	t.Helper()
	dir = t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	srv := &recv.Server{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		SyncInterval: 50 * time.Millisecond}
	go func() {
		defer close(done)
		srv.Serve(ctx, ln)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String(), dir
}

func summary(t *testing.T, out string) (captured, sent, acked, dropped uint64) {
	t.Helper()
	s, err := camconsole.FindSummary(out)
	if err != nil {
		t.Fatalf("%v; output:\n%s", err, out)
	}
	return s.Captured, s.Sent, s.Acked, s.Dropped
}

// TestRecorderDeliversEverything runs the whole pipeline in-process: the
// test clip twice (240 frames, keyframe every 30) into a real receiver.
func TestRecorderDeliversEverything(t *testing.T) {
	addr, dir := startReceiver(t)
	cfg := config.Default()
	cfg.Name = "cam1"
	cfg.Receiver = addr
	cfg.Source = config.SourceTestsrc
	cfg.Segment = 2 * time.Second
	var out syncbuf.Buffer
	r := &Recorder{
		Config:   cfg,
		Problems: []config.Problem{{Layer: "camwire.txt", Line: 3, Key: "fps", Msg: "bad value"}},
		Source:   &capture.TestSource{Fast: true, Loops: 2},
		Out:      &out,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Announce: true,
	}
	if err := r.Run(context.Background()); err != nil {
		t.Fatalf("Run = %v", err)
	}
	captured, _, acked, dropped := summary(t, out.String())
	if captured != 2*capture.ClipFrames || acked != captured || dropped != 0 {
		t.Errorf("summary captured=%d acked=%d dropped=%d, want %d, %d, 0", captured, acked, dropped, 2*capture.ClipFrames, 2*capture.ClipFrames)
	}
	for _, want := range []string{
		camconsole.InitStart + "\n",
		camconsole.RecorderStart + "name=cam1 ",
		camconsole.ConfigLine("camwire.txt:3: fps: bad value"),
		camconsole.FirstSentPrefix,
		camconsole.FirstAckedPrefix,
		camconsole.StateRecording.Line() + "\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.HasPrefix(out.String(), camconsole.InitStart+"\n") {
		t.Errorf("output does not start with the init marker:\n%s", out.String())
	}
	if !strings.HasSuffix(out.String(), "\n") || !camconsole.SummaryRE.MatchString(lastLine(out.String())) {
		t.Errorf("last line %q is not the summary", lastLine(out.String()))
	}

	// 240 frames at 30 fps with 2 s segments: the files hold them all.
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skipf("ffprobe not installed: %v", err)
	}
	total := 0
	files := 0
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".h264") {
			files++
			n, err := ffprobe.Frames(p)
			if err != nil {
				t.Error(err)
			}
			total += n
		}
		return nil
	})
	if uint64(total) != captured || files < 3 {
		t.Errorf("files hold %d frames in %d files, want %d in ≥ 3", total, files, captured)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// TestRecorderNoReceiver stops a recorder whose receiver never answers:
// the state says so, the drain gives up at its deadline and the summary
// still comes, with nothing acknowledged.
func TestRecorderNoReceiver(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // connection refused from now on

	cfg := config.Default()
	cfg.Receiver = addr
	var out syncbuf.Buffer
	r := &Recorder{
		Config:       cfg,
		Source:       &capture.TestSource{Fast: true, Loops: 1},
		Out:          &out,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		DrainTimeout: 200 * time.Millisecond,
	}
	if err := r.Run(context.Background()); err != nil {
		t.Fatalf("Run = %v", err)
	}
	captured, sent, acked, _ := summary(t, out.String())
	if captured != capture.ClipFrames || sent != 0 || acked != 0 {
		t.Errorf("captured=%d sent=%d acked=%d, want %d, 0, 0", captured, sent, acked, capture.ClipFrames)
	}
	if !strings.Contains(out.String(), camconsole.StateNoReceiver.Line()+"\n") {
		t.Errorf("output lacks the no-receiver state:\n%s", out.String())
	}
	if strings.Contains(out.String(), camconsole.InitStart) {
		t.Errorf("init marker printed without Announce:\n%s", out.String())
	}
}

func TestStateOf(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name string
		c    sender.Counters
		want camconsole.State
	}{
		{"not connected", sender.Counters{Captured: 10}, camconsole.StateNoReceiver},
		{"connected, acks flowing", sender.Counters{Connected: true, Captured: 10, Sent: 10, Acked: 5, LastAck: now.Add(-time.Second)}, camconsole.StateRecording},
		{"connected, all acked long ago (idle camera)", sender.Counters{Connected: true, Captured: 10, Sent: 10, Acked: 10, LastAck: now.Add(-time.Minute)}, camconsole.StateRecording},
		{"connected, acks stalled", sender.Counters{Connected: true, Captured: 100, Sent: 100, Acked: 5, LastAck: now.Add(-6 * time.Second)}, camconsole.StateNoReceiver},
	} {
		if got := stateOf(tc.c, now); got != tc.want {
			t.Errorf("%s: stateOf = %s, want %s", tc.name, got, tc.want)
		}
	}
}

// TestNextLook: watch sleeps until the stall rule could turn the state
// (stallAfter past the last ack, frames outstanding), polls when a frame
// could start the stall clock unannounced (nothing outstanding), and
// otherwise only waits for the sender's Changed or a poke.
func TestNextLook(t *testing.T) {
	now := time.Now()
	rec := camconsole.StateRecording
	for _, tc := range []struct {
		name  string
		c     sender.Counters
		state camconsole.State
		want  time.Duration
	}{
		{"acks flowing", sender.Counters{Connected: true, Captured: 10, Acked: 5, LastAck: now.Add(-time.Second)}, rec, stallAfter - time.Second + time.Millisecond},
		{"stall due now", sender.Counters{Connected: true, Captured: 10, Acked: 5, LastAck: now.Add(-stallAfter - time.Millisecond)}, rec, idlePoll},
		{"all acked", sender.Counters{Connected: true, Captured: 10, Acked: 10, LastAck: now.Add(-time.Second)}, rec, idlePoll},
		{"no ack yet", sender.Counters{Connected: true, Captured: 10}, rec, time.Minute},
		{"not connected", sender.Counters{Captured: 10}, camconsole.StateNoReceiver, time.Minute},
		{"stalled", sender.Counters{Connected: true, Captured: 10, Acked: 5, LastAck: now.Add(-time.Minute)}, camconsole.StateNoReceiver, time.Minute},
		{"camera error", sender.Counters{Connected: true, Captured: 10, Acked: 5, LastAck: now}, camconsole.StateError, time.Minute},
	} {
		if got := nextLook(tc.c, tc.state, now); got != tc.want {
			t.Errorf("%s: nextLook = %v, want %v", tc.name, got, tc.want)
		}
	}
}
