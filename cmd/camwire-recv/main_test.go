package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/camwire/camwire/recv/recvtest"
	"github.com/camwire/camwire/wire"
)

// binary is camwire-recv built once for the tests that exec it.
var binary string

func TestMain(m *testing.M) {
	tmp, err := os.MkdirTemp("", "camwire-recv-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(tmp, "camwire-recv")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building camwire-recv: %v\n%s", err, out)
		os.RemoveAll(tmp)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

// proc is a running camwire-recv.
type proc struct {
	cmd  *exec.Cmd
	addr string
	mu   sync.Mutex
	log  bytes.Buffer
	grew chan struct{} // closed and replaced whenever log grows
	exit chan struct{}
}

var listenRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startRecv execs camwire-recv on a free loopback port and waits until it
// logs that it listens.
func startRecv(t testing.TB, args ...string) *proc {
	t.Helper()
	p := &proc{exit: make(chan struct{}), grew: make(chan struct{})}
	p.cmd = exec.Command(binary, append([]string{"-listen", "127.0.0.1:0"}, args...)...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.log.WriteString(line + "\n")
			close(p.grew)
			p.grew = make(chan struct{})
			p.mu.Unlock()
			if m := listenRE.FindStringSubmatch(line); m != nil {
				addr <- m[1]
			}
		}
		p.cmd.Wait()
		close(p.exit)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exit
		if t.Failed() {
			t.Logf("camwire-recv log:\n%s", p.logs())
		}
	})
	select {
	case p.addr = <-addr:
	case <-p.exit:
		t.Fatalf("camwire-recv exited before listening:\n%s", p.logs())
	case <-time.After(20 * time.Second):
		t.Fatal("camwire-recv did not start listening")
	}
	return p
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// waitLog waits until the log has a line matching re and returns its
// submatches.
func (p *proc) waitLog(t testing.TB, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		p.mu.Lock()
		m := re.FindStringSubmatch(p.log.String())
		grew := p.grew
		p.mu.Unlock()
		if m != nil {
			return m
		}
		select {
		case <-grew:
		case <-p.exit:
			t.Fatalf("camwire-recv exited before logging %q", re)
		case <-deadline:
			t.Fatalf("camwire-recv did not log %q within %v", re, timeout)
		}
	}
}

func (p *proc) signal(t testing.TB, sig os.Signal) {
	t.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case <-p.exit:
	case <-time.After(20 * time.Second):
		t.Fatalf("camwire-recv did not exit after %v", sig)
	}
}

func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func checkSegments(t *testing.T, camDir string, want [][]byte) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(camDir, "*.h264"))
	sort.Strings(files)
	if len(files) != len(want) {
		t.Fatalf("%s has %d files, want %d", camDir, len(files), len(want))
	}
	for i, f := range files {
		got, _ := os.ReadFile(f)
		if !bytes.Equal(got, want[i]) {
			t.Errorf("segment %d (%s): %d bytes, want %d", i, filepath.Base(f), len(got), len(want[i]))
		}
	}
	if p, _ := filepath.Glob(filepath.Join(camDir, "*.partial")); len(p) > 0 {
		t.Errorf("left .partial files %v", p)
	}
}

// TestSIGKILLMidStream kills the receiver process while a camera is in
// the middle of a segment, restarts it on the same folder and lets the
// camera resume: nothing acknowledged is lost, nothing is duplicated.
func TestSIGKILLMidStream(t *testing.T) {
	dir := t.TempDir()
	st := recvtest.Script("kill-cam", 42, 3, 200, 8000, true, false)
	// Kill at the first ack strictly inside the second segment: its
	// file is then a .partial, with frames in flight behind the ack. At
	// ~800 KB/s a segment takes ~1 s, two of the receiver's 500 ms acks.
	var ends []uint64
	for _, r := range st.Records {
		if e, ok := r.(wire.SegmentEnd); ok {
			ends = append(ends, e.Seq)
		}
	}
	p := startRecv(t, "-dir", dir, "-format", "h264")
	var acked atomic.Uint64
	var once sync.Once
	killed := make(chan struct{})
	st.OnAck = func(seq uint64) {
		acked.Store(seq)
		if seq > ends[0] && seq < ends[1] {
			once.Do(func() { close(killed) })
		}
	}
	runErr := make(chan error, 1)
	go func() {
		_, err := st.Run(&recvtest.PacedConn{Conn: dial(t, p.addr), Every: 4 << 10, Pause: 5 * time.Millisecond}, 60*time.Second)
		runErr <- err
	}()
	select {
	case <-killed:
	case err := <-runErr:
		t.Fatalf("stream finished (%v) without an ack inside segment 2 (seq %d..%d)", err, ends[0]+1, ends[1]-1)
	case <-time.After(30 * time.Second):
		t.Fatal("kill point not reached")
	}
	p.signal(t, syscall.SIGKILL)
	if err := <-runErr; err == nil {
		t.Fatal("stream completed although the receiver was killed")
	}
	beforeRestart := acked.Load()
	if ps, _ := filepath.Glob(filepath.Join(dir, "kill-cam", "*.partial")); len(ps) != 1 {
		t.Fatalf("after the kill: partials %v, want 1 (the kill must land mid-segment)", ps)
	}

	p = startRecv(t, "-dir", dir, "-format", "h264")
	res, err := st.Run(dial(t, p.addr), 30*time.Second)
	if err != nil {
		t.Fatalf("resume after restart: %v", err)
	}
	if res.Welcome < beforeRestart {
		t.Errorf("welcome after restart acked %d, but %d was acknowledged before the kill", res.Welcome, beforeRestart)
	}
	if strings.Contains(p.logs(), "moved unacknowledged bytes aside") {
		t.Log("the kill left written but unacknowledged bytes; they were moved aside")
	}
	if !strings.Contains(p.logs(), "continues when its camera reconnects") {
		t.Errorf("restart did not report the unfinished recording")
	}
	p.signal(t, syscall.SIGTERM)
	checkSegments(t, filepath.Join(dir, "kill-cam"), st.Want())
}

// TestSIGTERMKeepsPartial: SIGTERM mid-segment exits 0, fsyncs what
// arrived and leaves the .partial, which a reconnect then completes.
func TestSIGTERMKeepsPartial(t *testing.T) {
	dir := t.TempDir()
	st := recvtest.Script("term-cam", 4, 1, 50, 2000, false, false)
	first := *st
	first.Records = st.Records[:20]
	p := startRecv(t, "-dir", dir, "-format", "h264")
	if _, err := first.Run(dial(t, p.addr), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
	partials, _ := filepath.Glob(filepath.Join(dir, "term-cam", "*.h264.partial"))
	if len(partials) != 1 {
		t.Fatalf("partials after SIGTERM = %v, want 1", partials)
	}
	p = startRecv(t, "-dir", dir, "-format", "h264")
	if _, err := st.Run(dial(t, p.addr), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	p.signal(t, syscall.SIGTERM)
	checkSegments(t, filepath.Join(dir, "term-cam"), st.Want())
}

func TestKeyFlag(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, []byte("open sesame\n"), 0o600)
	p := startRecv(t, "-dir", dir, "-key", keyFile)
	good := recvtest.Script("keyed", 1, 1, 3, 100, false, false)
	good.Key = []byte("open sesame")
	if _, err := good.Run(dial(t, p.addr), 10*time.Second); err != nil {
		t.Errorf("right key: %v", err)
	}
	bad := recvtest.Script("unkeyed", 2, 1, 3, 100, false, false)
	bad.Key = []byte("open sesame\n")
	if res, err := bad.Run(dial(t, p.addr), 10*time.Second); err == nil || !strings.Contains(res.Reject, "wrong key") {
		t.Errorf("wrong key: %v, reject %q; want a wrong-key reject", err, res.Reject)
	}
}

func TestFlagErrors(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, []byte("\n"), 0o600)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown format", []string{"-format", "avi"}, `-format "avi": supported formats are h264, mp4`},
		{"bad fps", []string{"-fps", "fast"}, `invalid value "fast" for flag -fps`},
		{"zero fps", []string{"-fps", "0"}, `not a frame rate in (0, 1000]`},
		{"too precise fps", []string{"-fps", "29.9700000000001"}, "too precise"},
		{"empty key", []string{"-key", empty}, "is empty"},
		{"missing key", []string{"-key", "/nonexistent/key"}, "no such file"},
		{"stray argument", []string{"extra"}, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if code := run(context.Background(), tt.args, &out); code != 2 {
				t.Errorf("run(%q) = %d, want 2", tt.args, code)
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("run(%q) printed %q, want %q", tt.args, out.String(), tt.want)
			}
		})
	}
}
