package testkit

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camwire/camwire/internal/syncbuf"
)

// Proc is a running program; its stderr, line by line, is Log.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	Log  *syncbuf.Buffer
	exit chan struct{} // closed once the program exited and Log is complete
}

// Start runs bin with args. When the test ends the program gets SIGTERM
// (SIGKILL 10 s later) unless it has exited, and if the test failed its
// log is printed.
func Start(tb testing.TB, bin string, args ...string) *Proc {
	tb.Helper()
	cmd := exec.Command(bin, args...)
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer null.Close() // the program has its own copy
	cmd.Stdout = null
	return StartCmd(tb, strings.TrimSuffix(filepath.Base(bin), ".exe"), cmd)
}

// StartCmd is Start for a command the caller has prepared (a stdin pipe,
// its environment), named name in failures. Its stdout joins stderr in
// Log unless cmd sets one.
func StartCmd(tb testing.TB, name string, cmd *exec.Cmd) *Proc {
	tb.Helper()
	p := &Proc{Name: name, Cmd: cmd, Log: &syncbuf.Buffer{}, exit: make(chan struct{})}
	stderr, err := p.Cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if cmd.Stdout == nil {
		cmd.Stdout = cmd.Stderr
	}
	if err := p.Cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", p.Name, err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			p.Log.Write([]byte(sc.Text() + "\n"))
		}
		io.Copy(io.Discard, stderr)
		p.Cmd.Wait()
		close(p.exit)
	}()
	tb.Cleanup(func() {
		p.Halt(syscall.SIGTERM, 10*time.Second)
		if tb.Failed() {
			tb.Logf("%s log:\n%s", p.Name, p.Log)
		}
	})
	return p
}

// Exited is closed once the program exited and its log is complete.
func (p *Proc) Exited() <-chan struct{} { return p.exit }

// Logs returns the program's log so far.
func (p *Proc) Logs() string { return p.Log.String() }

// Count returns how many lines of the log contain s.
func (p *Proc) Count(s string) int { return countLines(p.Log.String(), s) }

func countLines(log, s string) int {
	n := 0
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// WaitFor waits until cond holds for the log and fails tb if the program
// exits first or timeout passes; what names the wait in the failure.
func (p *Proc) WaitFor(tb testing.TB, what string, timeout time.Duration, cond func(log string) bool) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	go func() {
		select {
		case <-p.exit:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := p.Log.Wait(ctx, cond); err != nil {
		// The exit may have completed the log: look once more.
		if cond(p.Log.String()) {
			return
		}
		select {
		case <-p.exit:
			tb.Fatalf("%s exited (%v) before %s", p.Name, p.Cmd.ProcessState, what)
		default:
			tb.Fatalf("%s: no %s within %v", p.Name, what, timeout)
		}
	}
}

// WaitLog waits until a line of the log matches re and returns its
// submatches.
func (p *Proc) WaitLog(tb testing.TB, re *regexp.Regexp, timeout time.Duration) []string {
	tb.Helper()
	var m []string
	p.WaitFor(tb, fmt.Sprintf("log line matching %q", re), timeout, func(log string) bool {
		m = re.FindStringSubmatch(log)
		return m != nil
	})
	return m
}

// WaitLine waits for the first line of the log that starts with prefix
// and returns it.
func (p *Proc) WaitLine(tb testing.TB, prefix string, timeout time.Duration) string {
	tb.Helper()
	var line string
	p.WaitFor(tb, fmt.Sprintf("line starting %q", prefix), timeout, func(log string) bool {
		for _, l := range strings.Split(log, "\n") {
			if strings.HasPrefix(l, prefix) {
				line = l
				return true
			}
		}
		return false
	})
	return line
}

// WaitCount waits until n lines of the log contain s.
func (p *Proc) WaitCount(tb testing.TB, s string, n int, timeout time.Duration) {
	tb.Helper()
	p.WaitFor(tb, fmt.Sprintf("%d log lines with %q", n, s), timeout, func(log string) bool { return countLines(log, s) >= n })
}

// Stop sends sig and waits up to 20 s for the program to exit.
func (p *Proc) Stop(tb testing.TB, sig os.Signal) {
	tb.Helper()
	p.Cmd.Process.Signal(sig)
	select {
	case <-p.exit:
	case <-time.After(20 * time.Second):
		tb.Fatalf("%s did not exit within 20 s of %v", p.Name, sig)
	}
}

// Halt ends the program with sig unless it exited, and kills it after
// grace.
func (p *Proc) Halt(sig os.Signal, grace time.Duration) {
	select {
	case <-p.exit:
		return
	default:
	}
	p.Cmd.Process.Signal(sig)
	select {
	case <-p.exit:
	case <-time.After(grace):
		p.Cmd.Process.Kill()
		<-p.exit
	}
}

// WaitSize waits until the file at path holds at least want bytes, and
// fails tb after timeout. Nothing signals a file's growth, so it looks
// every millisecond; that costs the test's CPU, not the writer's.
func WaitSize(tb testing.TB, path string, want int64, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		fi, err := os.Stat(path)
		if err == nil && fi.Size() >= want {
			return
		}
		if time.Now().After(deadline) {
			var got int64
			if fi != nil {
				got = fi.Size()
			}
			tb.Fatalf("%s: %d bytes, want %d within %v (%v)", path, got, want, timeout, err)
		}
		time.Sleep(time.Millisecond)
	}
}
