package testkit

import (
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

// TestUDPPair: the pair is even, below the ephemeral range, and both
// ports can be bound.
func TestUDPPair(t *testing.T) {
	addr := UDPPair(t)
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	if host != "127.0.0.1" || p%2 != 0 || p >= ephemeralLow() {
		t.Fatalf("UDPPair = %q, want 127.0.0.1 and an even port below %d", addr, ephemeralLow())
	}
	for _, q := range []int{p, p + 1} {
		c, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(q)))
		if err != nil {
			t.Fatalf("UDPPair = %q, but port %d: %v", addr, q, err)
		}
		c.Close()
	}
}
