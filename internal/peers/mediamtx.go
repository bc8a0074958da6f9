package peers

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camwire/camwire/internal/testkit"
)

// MediaMTX is a real MediaMTX (scripts/peers.sh builds it) on loopback
// ports of its own, RTSP over TCP only, every other server off.
type MediaMTX struct {
	Addr string // RTSP host:port
	*testkit.Proc
}

// StartMediaMTX runs MediaMTX with paths (YAML under "paths:") on addr
// ("": a free port), or skips t when it is not built.
func StartMediaMTX(t testing.TB, addr, paths string) *MediaMTX {
	t.Helper()
	bin := Path(t, "mediamtx")
	if addr == "" {
		addr = testkit.TCPAddr(t)
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
	cmd := exec.Command(bin, cf)
	cmd.Dir = dir
	m := &MediaMTX{Addr: addr, Proc: testkit.StartCmd(t, "MediaMTX", cmd)}
	// Registered after StartCmd's cleanup, so it runs first: MediaMTX
	// gets SIGINT, as its user would stop it.
	t.Cleanup(m.Stop)
	m.WaitLog(t, regexp.MustCompile(`\[RTSP\] started with listeners on `))
	return m
}

// WaitLog waits up to 60 s for a line of MediaMTX's log matching re (its
// own events) and returns the submatches.
func (m *MediaMTX) WaitLog(t testing.TB, re *regexp.Regexp) []string {
	t.Helper()
	return m.Proc.WaitLog(t, re, 60*time.Second)
}

// Stop ends MediaMTX as its user would (SIGINT: recordings are closed),
// and kills it after 20 s.
func (m *MediaMTX) Stop() { m.Proc.Halt(syscall.SIGINT, 20*time.Second) }
