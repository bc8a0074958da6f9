package rtsp

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/camwire/camwire/internal/peers"
)

// mediamtx is a real MediaMTX (scripts/peers.sh builds it) on loopback
// ports of its own, RTSP over TCP only, every other server off.
type mediamtx struct {
	addr string // RTSP host:port
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  strings.Builder
	grew chan struct{}
	exit chan struct{}
}

func freeTCP(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startMediaMTX runs MediaMTX with paths (YAML under "paths:") on addr
// ("" : a free port).
func startMediaMTX(t *testing.T, addr, paths string) *mediamtx {
	t.Helper()
	bin := peers.Path(t, "mediamtx")
	if addr == "" {
		addr = freeTCP(t)
	}
	dir := t.TempDir()
	// UDP is off, but MediaMTX still checks its pair: RTCP = RTP+1.
	rtp := udpPair(t)
	port, _ := strconv.Atoi(rtp[strings.LastIndex(rtp, ":")+1:])
	conf := fmt.Sprintf(`logLevel: debug
rtspTransports: [tcp]
rtspAddress: %s
rtpAddress: %s
rtcpAddress: 127.0.0.1:%d
rtmp: false
hls: false
webrtc: false
srt: false
moq: false
api: false
metrics: false
playback: false
pprof: false
paths:
%s`, addr, rtp, port+1, paths)
	cf := filepath.Join(dir, "mediamtx.yml")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	m := &mediamtx{addr: addr, cmd: exec.Command(bin, cf), grew: make(chan struct{}), exit: make(chan struct{})}
	m.cmd.Dir = dir
	out, err := m.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	m.cmd.Stderr = m.cmd.Stdout
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			m.mu.Lock()
			m.log.WriteString(sc.Text() + "\n")
			close(m.grew)
			m.grew = make(chan struct{})
			m.mu.Unlock()
		}
		m.cmd.Wait()
		close(m.exit)
	}()
	t.Cleanup(func() {
		m.stop()
		if t.Failed() {
			t.Logf("MediaMTX log:\n%s", tail(m.logs()))
		}
	})
	m.waitLog(t, regexp.MustCompile(`\[RTSP\] started with listeners on `))
	return m
}

func (m *mediamtx) logs() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.log.String()
}

// waitLog waits for a log line matching re (MediaMTX's own events).
func (m *mediamtx) waitLog(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		m.mu.Lock()
		s, grew := m.log.String(), m.grew
		m.mu.Unlock()
		if g := re.FindStringSubmatch(s); g != nil {
			return g
		}
		select {
		case <-grew:
		case <-m.exit:
			t.Fatalf("MediaMTX exited before logging %q:\n%s", re, tail(m.logs()))
		case <-deadline:
			t.Fatalf("MediaMTX did not log %q within 60 s:\n%s", re, tail(m.logs()))
		}
	}
}

// stop ends MediaMTX as its user would (SIGINT: recordings are closed).
func (m *mediamtx) stop() {
	m.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-m.exit:
	case <-time.After(20 * time.Second):
		m.cmd.Process.Kill()
		<-m.exit
	}
}

var ffPTSTimeRE = regexp.MustCompile(`(?m)^packet\|pts_time=([0-9.]+)`)

// TestMediaMTXPulls: MediaMTX takes a camwire camera as its path's
// source (source: rtsp://…/garden) and records it. The recording holds an
// unbroken run of the frames sent, at their capture times, ending with
// the last; it may start a GOP late (MediaMTX starts a recording at a
// keyframe).
func TestMediaMTXPulls(t *testing.T) {
	peers.Path(t, "mediamtx")
	s, ready, plays := startServer(t, nil)
	c := newCam(t, "garden")
	s.Frame(c.hello.Name, c.hello, c.frame(0))
	url := recv(t, ready, "camera served")
	rec := t.TempDir()
	var stopAt, sentN atomicInt
	stopAt.set(1 << 40)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second / clipFPS)
		defer tick.Stop()
		n := 1
		for ; n < stopAt.get(); n++ {
			<-tick.C
			s.Frame(c.hello.Name, c.hello, c.frame(n))
			sentN.set(n + 1)
		}
	}()
	m := startMediaMTX(t, "", fmt.Sprintf(`  garden:
    source: %s
    rtspTransport: tcp
    record: yes
    recordPath: %s/%%path/%%Y-%%m-%%d_%%H-%%M-%%S-%%f
    recordFormat: fmp4
`, url, rec))
	recv(t, plays, "PLAY from MediaMTX")
	m.waitLog(t, regexp.MustCompile(`\[path garden\] \[recorder\] creating segment`))
	stopAt.set(sentN.get() + 3*afterPlay)
	<-done
	sent := sentN.get()
	s.Close() // MediaMTX's source ends: it finishes the segment
	m.stop()
	files, _ := filepath.Glob(filepath.Join(rec, "garden", "*.mp4"))
	if len(files) == 0 {
		t.Fatalf("MediaMTX recorded nothing under %s", rec)
	}
	var pts []int64
	for _, f := range files {
		out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "packet=pts_time", "-of", "compact", f).CombinedOutput()
		if err != nil {
			t.Fatalf("ffprobe %s: %v\n%s", f, err, out)
		}
		for _, m := range ffPTSTimeRE.FindAllStringSubmatch(string(out), -1) {
			sec, _ := strconv.ParseFloat(m[1], 64)
			pts = append(pts, int64(sec*clipRate+0.5))
		}
	}
	// MediaMTX keeps times as durations and writes them in the MP4's
	// time base: one tick (11 µs) of rounding either way.
	checkRunWithin(t, fmt.Sprintf("MediaMTX recording (%d files)", len(files)), pts, sent, 1)
}

type atomicInt struct {
	mu sync.Mutex
	v  int
}

func (a *atomicInt) get() int  { a.mu.Lock(); defer a.mu.Unlock(); return a.v }
func (a *atomicInt) set(v int) { a.mu.Lock(); a.v = v; a.mu.Unlock() }
