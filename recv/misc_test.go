package recv

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestDiagnose(t *testing.T) {
	lo := Interface{Name: "lo", Up: true, Loopback: true, Addrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}}
	wifi := Interface{Name: "wlan0", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.5/24")}}
	cable := Interface{Name: "enp3s0", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("fe80::1/64")}}
	onNet := Interface{Name: "eth1", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("192.168.77.1/24")}}
	tests := []struct {
		name string
		ifs  []Interface
		goos string
		want []string
	}{
		{"linux, cable without address", []Interface{lo, wifi, cable}, "linux", []string{"No interface is on the camera's subnet 192.168.77.0/24", "sudo ip addr add 192.168.77.1/24 dev enp3s0", "wlan0", "10.0.0.5/24"}},
		{"linux, no candidate", []Interface{lo, wifi}, "linux", []string{"sudo ip addr add 192.168.77.1/24 dev IFACE", "replace IFACE"}},
		{"macOS", []Interface{lo, cable}, "darwin", []string{"sudo ifconfig enp3s0 alias 192.168.77.1/24"}},
		{"windows", []Interface{lo, wifi}, "windows", []string{`netsh interface ip set address "Ethernet" static 192.168.77.1 255.255.255.0`}},
		{"already on the subnet", []Interface{lo, onNet}, "linux", []string{"On the camera's subnet 192.168.77.0/24: eth1 (192.168.77.1/24)", "cable"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Diagnose(tt.ifs, DefaultCameraNet, tt.goos)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("Diagnose() = %q, want it to contain %q", got, w)
				}
			}
			if strings.Contains(tt.name, "already") && strings.Contains(got, "sudo") {
				t.Errorf("Diagnose() on the subnet still suggests a command: %q", got)
			}
		})
	}
}

// chanWriter reports each Write on a channel.
type chanWriter chan string

func (c chanWriter) Write(p []byte) (int, error) { c <- string(p); return len(p), nil }

func TestDiagnosisWhenNoCamera(t *testing.T) {
	out := make(chanWriter, 1)
	startServer(t, t.TempDir(), func(s *Server) {
		s.DiagnoseAfter = 50 * time.Millisecond
		s.DiagnoseOut = out
		s.Interfaces = func() ([]Interface, error) {
			return []Interface{{Name: "eth9", Up: true}}, nil
		}
	})
	select {
	case got := <-out:
		if !strings.Contains(got, "no camera has connected") || !strings.Contains(got, "dev eth9") {
			t.Errorf("diagnosis = %q, want the cause and the command for eth9", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no diagnosis printed")
	}
}

func TestNoDiagnosisAfterACamera(t *testing.T) {
	out := make(chanWriter, 1)
	ts := startServer(t, t.TempDir(), func(s *Server) {
		s.DiagnoseAfter = 300 * time.Millisecond
		s.DiagnoseOut = out
	})
	c := ts.dial(t)
	c.Write([]byte{0, 0, 0, 1})
	c.Close()
	ts.waitFiles(t, 1, 5*time.Second)
	select {
	case got := <-out:
		t.Errorf("diagnosis printed although a camera connected: %q", got)
	case <-time.After(600 * time.Millisecond):
	}
}

func TestRawFolder(t *testing.T) {
	tests := []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("192.168.77.2"), Port: 4000}, "raw-192.168.77.2"},
		{&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 4000, Zone: "eth0"}, "raw-fe80--1-eth0"},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 1}, "raw---1"},
	}
	for _, tt := range tests {
		if got := rawFolder(tt.addr); got != tt.want {
			t.Errorf("rawFolder(%v) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

func TestWithin(t *testing.T) {
	for _, elem := range []string{"../x", "/etc/passwd", "..", "a/../../b", ""} {
		if p, err := within("/data/recv", elem); err == nil && !strings.HasPrefix(p, "/data/recv/") {
			t.Errorf("within(/data/recv, %q) = %q, want an error", elem, p)
		}
	}
	if p, err := within("/data/recv", "cam"); err != nil || p != "/data/recv/cam" {
		t.Errorf("within(/data/recv, cam) = %q, %v", p, err)
	}
}
