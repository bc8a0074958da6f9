package peers

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

	"github.com/camwire/camwire/internal/testkit"
)

// MediaMTX is a real MediaMTX (scripts/peers.sh builds it) on loopback
// ports of its own, RTSP over TCP only, every other server off.
type MediaMTX struct {
	Addr string // RTSP host:port
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  strings.Builder
	grew chan struct{}
	exit chan struct{}
}

// FreeTCP is a free TCP address on loopback.
func FreeTCP(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// StartMediaMTX runs MediaMTX with paths (YAML under "paths:") on addr
// ("": a free port), or skips t when it is not built.
func StartMediaMTX(t testing.TB, addr, paths string) *MediaMTX {
	t.Helper()
	bin := Path(t, "mediamtx")
	if addr == "" {
		addr = FreeTCP(t)
	}
	dir := t.TempDir()
	// UDP is off, but MediaMTX still checks its pair: RTCP = RTP+1.
	rtp := testkit.UDPPair(t)
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
	m := &MediaMTX{Addr: addr, cmd: exec.Command(bin, cf), grew: make(chan struct{}), exit: make(chan struct{})}
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
		m.Stop()
		if t.Failed() {
			t.Logf("MediaMTX log:\n%s", m.Logs())
		}
	})
	m.WaitLog(t, regexp.MustCompile(`\[RTSP\] started with listeners on `))
	return m
}

// Logs is the tail of MediaMTX's output.
func (m *MediaMTX) Logs() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.log.String()
	if len(l) > 4000 {
		l = "…" + l[len(l)-4000:]
	}
	return l
}

// WaitLog waits for a log line matching re (MediaMTX's own events).
func (m *MediaMTX) WaitLog(t testing.TB, re *regexp.Regexp) []string {
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
			t.Fatalf("MediaMTX exited before logging %q:\n%s", re, m.Logs())
		case <-deadline:
			t.Fatalf("MediaMTX did not log %q within 60 s:\n%s", re, m.Logs())
		}
	}
}

// Stop ends MediaMTX as its user would (SIGINT: recordings are closed).
func (m *MediaMTX) Stop() {
	m.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-m.exit:
	case <-time.After(20 * time.Second):
		m.cmd.Process.Kill()
		<-m.exit
	}
}
