package testkit

import (
	"bytes"
	"net"
	"os"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

const logger = Module + "/internal/testkit/testdata/logger"

// TestBuildOnce: a second Build of the same package returns the first
// binary without building again.
func TestBuildOnce(t *testing.T) {
	a := Build(t, logger)
	fi, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	b := Build(t, logger)
	if b != a {
		t.Errorf("second Build = %s, want %s", b, a)
	}
	if fi2, err := os.Stat(b); err != nil || !fi2.ModTime().Equal(fi.ModTime()) {
		t.Errorf("second Build rebuilt %s (%v)", b, err)
	}
}

// TestProc: the log is waited on line by line, and Stop ends the program.
func TestProc(t *testing.T) {
	p := Start(t, Build(t, logger), "msg=listening addr=127.0.0.1:4711", "segment complete", "segment complete")
	if m := p.WaitLog(t, listenRE, 10*time.Second); m[1] != "127.0.0.1:4711" {
		t.Errorf("WaitLog(%q) = %q, want the address", listenRE, m)
	}
	if l := p.WaitLine(t, "segment", 10*time.Second); l != "segment complete" {
		t.Errorf("WaitLine(segment) = %q, want the whole line", l)
	}
	p.WaitCount(t, "segment complete", 2, 10*time.Second)
	if n := p.Count("segment complete"); n != 2 {
		t.Errorf("Count(segment complete) = %d, want 2", n)
	}
	if m := regexp.MustCompile(`nothing`).FindString(p.Logs()); m != "" {
		t.Errorf("log has %q, want only the arguments", m)
	}
	p.Stop(t, syscall.SIGTERM)
	select {
	case <-p.Exited():
	default:
		t.Error("Exited not closed after Stop")
	}
	if code := p.Cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
}

// TestPorts: every port asked for is below the ephemeral range, can be
// bound on its network, and even when asked; UDPPair and TCPAddr are
// Ports with their own arguments.
func TestPorts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		network string
		even    bool
		offs    []int
		get     func(testing.TB) int
	}{
		{name: "tcp", network: "tcp", offs: []int{0}, get: func(tb testing.TB) int { return port(tb, TCPAddr(tb)) }},
		{name: "udp-pair", network: "udp", even: true, offs: []int{0, 1}, get: func(tb testing.TB) int { return port(tb, UDPPair(tb)) }},
		{name: "weed-http-grpc", network: "tcp", offs: []int{0, 10000}, get: func(tb testing.TB) int { return Ports(tb, "tcp", false, 0, 10000) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.get(t)
			if tc.even && p%2 != 0 {
				t.Errorf("port %d is odd", p)
			}
			for _, o := range tc.offs {
				if p+o >= ephemeralLow() {
					t.Errorf("port %d+%d is in the ephemeral range (from %d)", p, o, ephemeralLow())
				}
				if !probe(tc.network, p+o, []int{0}) {
					t.Errorf("port %d+%d cannot be bound on %s", p, o, tc.network)
				}
			}
		})
	}
}

func port(tb testing.TB, addr string) int {
	host, p, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" {
		tb.Fatalf("address %q: want 127.0.0.1:PORT (%v)", addr, err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

// TestListenNC: the real nc names its port, receives what is sent there
// and exits when the sender closes.
func TestListenNC(t *testing.T) {
	var got bytes.Buffer
	cmd, port := ListenNC(t, &got)
	c, err := net.Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("camwire")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("nc: %v", err)
	}
	if got.String() != "camwire" {
		t.Errorf("nc received %q, want %q", got.String(), "camwire")
	}
}
