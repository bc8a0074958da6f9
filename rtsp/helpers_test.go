package rtsp

import (
	"bytes"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/camwire/camwire/capture"
	"github.com/camwire/camwire/internal/testkit"
	"github.com/camwire/camwire/segment"
	"github.com/camwire/camwire/wire"
)

// clipFPS is the test clip's rate (scripts/make-testclip.sh).
const clipFPS = 30

// origin is an arbitrary monotonic capture time of a clip's first frame.
const origin = 987_654_321_000

// clip is the repository's real H.264 test clip as access units.
func clip(t testing.TB) []segment.AU {
	t.Helper()
	var sp segment.Splitter
	aus, err := sp.Write(capture.TestClip(), 0)
	if err != nil {
		t.Fatal(err)
	}
	aus = append(aus, sp.Flush()...)
	if len(aus) < 2*clipFPS || !aus[0].Key {
		t.Fatalf("test clip: %d access units, first key %v; want at least %d starting with a keyframe", len(aus), len(aus) > 0 && aus[0].Key, 2*clipFPS)
	}
	return aus
}

// cam feeds frames to a consumer's hook as a camera would: hello, frame
// n of the clip stamped n/30 s after origin.
type cam struct {
	hello wire.Hello
	aus   []segment.AU
	seq   uint64
}

func newCam(t testing.TB, name string) *cam {
	h := wire.Hello{Name: name, Codec: "h264", Width: 640, Height: 360, FPSNum: clipFPS, FPSDen: 1}
	copy(h.StreamID[:], name)
	return &cam{hello: h, aus: clip(t)}
}

func (c *cam) frame(n int) wire.Frame {
	c.seq++
	au := c.aus[n%len(c.aus)]
	return wire.Frame{Seq: c.seq, TimeUS: captureUS(n), Key: au.Key, Payload: au.Data}
}

// captureUS is frame n's capture time: 30 fps with a few ms of jitter, as
// a real camera has, so a reader's timestamps can only match if they come
// from the capture times, not from arrival or a nominal rate.
func captureUS(n int) int64 { return origin + int64(n)*1e6/clipFPS + int64(n%4)*2000 }

// play sends frames from..to-1 to hook at the camera's rate: a real
// camera's pace, which the readers' frame counts must survive.
func (c *cam) play(hook func(string, wire.Hello, wire.Frame), from, to int) {
	tick := time.NewTicker(time.Second / clipFPS)
	defer tick.Stop()
	for n := from; n < to; n++ {
		hook(c.hello.Name, c.hello, c.frame(n))
		<-tick.C
	}
}

// startServer starts a Server on loopback with UDP, and returns it with a
// channel that gets each camera's URL once it is served and one that
// gets a value per PLAY.
func startServer(t *testing.T, clock Clock) (*Server, chan string, chan struct{}) {
	t.Helper()
	ready := make(chan string, 10)
	plays := make(chan struct{}, 10)
	var s *Server
	for try := 0; ; try++ {
		s = &Server{Addr: "127.0.0.1:0", UDPAddr: testkit.UDPPair(t), Clock: clock,
			OnReady: func(camera, url string) { ready <- url },
			onPlay:  func() { plays <- struct{}{} }}
		err := s.Start()
		if err == nil {
			break
		}
		if try == 5 {
			t.Fatal(err)
		}
	}
	t.Cleanup(s.Close)
	return s, ready, plays
}

func recv[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("no %s within 30 s", what)
		panic("unreachable")
	}
}

// tool runs a reader process and collects its output.
type tool struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan error
}

func startTool(t *testing.T, name string, args ...string) *tool {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not installed (scripts/deps.sh installs it): %v", name, err)
	}
	tl := &tool{cmd: exec.Command(name, args...), done: make(chan error, 1)}
	var mu sync.Mutex
	tl.cmd.Stdout = &lockedWriter{mu: &mu, w: &tl.out}
	tl.cmd.Stderr = &lockedWriter{mu: &mu, w: &tl.out}
	if err := tl.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { tl.done <- tl.cmd.Wait() }()
	t.Cleanup(func() { tl.cmd.Process.Kill(); <-tl.done })
	return tl
}

// wait waits for the tool to exit and returns its output.
func (tl *tool) wait(t *testing.T) (string, error) {
	t.Helper()
	select {
	case err := <-tl.done:
		tl.done <- err
		return tl.out.String(), err
	case <-time.After(60 * time.Second):
		tl.cmd.Process.Kill()
		t.Fatalf("%s still running 60 s after the stream ended:\n%s", tl.cmd.Path, tl.out.String())
		return "", nil
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
