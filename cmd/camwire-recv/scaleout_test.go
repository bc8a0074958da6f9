package main

import (
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/camwire/camwire/mp4/mp4test"
)

func TestRTSPUDP(t *testing.T) {
	for _, tc := range []struct{ rtsp, flag, want string }{
		{":8554", "", ":8556"},
		{"127.0.0.1:8555", "", "127.0.0.1:8556"},
		{":8554", "off", ""},
		{":8554", "10.0.0.1:9000", "10.0.0.1:9000"},
		{"127.0.0.1:0", "", ""},
	} {
		got, err := rtspUDP(tc.rtsp, tc.flag)
		if err != nil || got != tc.want {
			t.Errorf("rtspUDP(%q, %q) = %q, %v; want %q", tc.rtsp, tc.flag, got, err, tc.want)
		}
	}
	if _, err := rtspUDP("8554", ""); err == nil {
		t.Error(`rtspUDP("8554", "") = nil error; want one naming the address`)
	}
}

var (
	rtspServingRE = regexp.MustCompile(`msg="RTSP: serving camera" url=(\S+)`)
	ffFramesRE    = regexp.MustCompile(`frame=\s*(\d+)`)
)

// freeUDPPair is an even UDP port on loopback with a free successor.
func freeUDPPair(t *testing.T) string {
	t.Helper()
	for range 100 {
		a, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := a.LocalAddr().(*net.UDPAddr).Port
		if p%2 != 0 || p >= 65534 {
			a.Close()
			continue
		}
		b, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p+1))
		a.Close()
		if err == nil {
			b.Close()
			return fmt.Sprintf("127.0.0.1:%d", p)
		}
	}
	t.Fatal("no free UDP port pair")
	return ""
}

// TestRTSPFlag: with -rtsp, a camera sending to camwire-recv is an RTSP
// stream that ffmpeg reads 60 frames from over TCP and over UDP, while
// the camera's recording goes on.
func TestRTSPFlag(t *testing.T) {
	mp4test.NeedTools(t)
	dir := t.TempDir()
	p := startRecv(t, "-dir", dir, "-rtsp", "127.0.0.1:0", "-rtsp-udp", freeUDPPair(t))
	runCamera(t, p.Addr, "cam-rtsp")
	url := p.WaitLog(t, rtspServingRE, 20*time.Second)[1]
	for _, transport := range []string{"tcp", "udp"} {
		out, err := exec.Command("ffmpeg", "-hide_banner", "-nostats", "-stats_period", "0.1", "-rtsp_transport", transport,
			"-i", url, "-frames:v", "60", "-c", "copy", "-f", "null", "-").CombinedOutput()
		if err != nil {
			t.Fatalf("ffmpeg over %s: %v\n%s", transport, err, out)
		}
		m := ffFramesRE.FindAllStringSubmatch(string(out), -1)
		if m == nil || m[len(m)-1][1] != "60" {
			t.Errorf("ffmpeg over %s read %v frames, want 60:\n%s", transport, m, out)
		}
	}
}
