package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/camwire/camwire/internal/testkit"
	"github.com/camwire/camwire/recv/recvtest"
	"github.com/camwire/camwire/wire"
)

// TestMain: the test binary doubles as BenchmarkCameras' copy receiver
// (copybench_test.go) when re-executed with its environment.
func TestMain(m *testing.M) {
	copyMain()
	testkit.Main(m)
}

// startRecv execs camwire-recv (built once) on a free loopback port and
// waits until it logs that it listens.
func startRecv(t testing.TB, args ...string) *testkit.RecvProc {
	t.Helper()
	return testkit.StartRecv(t, "", args...)
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
		_, err := st.Run(&recvtest.PacedConn{Conn: dial(t, p.Addr), Every: 4 << 10, Pause: 5 * time.Millisecond}, 60*time.Second)
		runErr <- err
	}()
	select {
	case <-killed:
	case err := <-runErr:
		t.Fatalf("stream finished (%v) without an ack inside segment 2 (seq %d..%d)", err, ends[0]+1, ends[1]-1)
	case <-time.After(30 * time.Second):
		t.Fatal("kill point not reached")
	}
	p.Stop(t, syscall.SIGKILL)
	if err := <-runErr; err == nil {
		t.Fatal("stream completed although the receiver was killed")
	}
	beforeRestart := acked.Load()
	if ps, _ := filepath.Glob(filepath.Join(dir, "kill-cam", "*.partial")); len(ps) != 1 {
		t.Fatalf("after the kill: partials %v, want 1 (the kill must land mid-segment)", ps)
	}

	p = startRecv(t, "-dir", dir, "-format", "h264")
	res, err := st.Run(dial(t, p.Addr), 30*time.Second)
	if err != nil {
		t.Fatalf("resume after restart: %v", err)
	}
	if res.Welcome < beforeRestart {
		t.Errorf("welcome after restart acked %d, but %d was acknowledged before the kill", res.Welcome, beforeRestart)
	}
	if strings.Contains(p.Logs(), "moved unacknowledged bytes aside") {
		t.Log("the kill left written but unacknowledged bytes; they were moved aside")
	}
	if !strings.Contains(p.Logs(), "continues when its camera reconnects") {
		t.Errorf("restart did not report the unfinished recording")
	}
	p.Stop(t, syscall.SIGTERM)
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
	if _, err := first.Run(dial(t, p.Addr), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Stop(t, syscall.SIGTERM)
	if code := p.Cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
	partials, _ := filepath.Glob(filepath.Join(dir, "term-cam", "*.h264.partial"))
	if len(partials) != 1 {
		t.Fatalf("partials after SIGTERM = %v, want 1", partials)
	}
	p = startRecv(t, "-dir", dir, "-format", "h264")
	if _, err := st.Run(dial(t, p.Addr), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Stop(t, syscall.SIGTERM)
	checkSegments(t, filepath.Join(dir, "term-cam"), st.Want())
}

func TestKeyFlag(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, []byte("open sesame\n"), 0o600)
	p := startRecv(t, "-dir", dir, "-key", keyFile)
	good := recvtest.Script("keyed", 1, 1, 3, 100, false, false)
	good.Key = []byte("open sesame")
	if _, err := good.Run(dial(t, p.Addr), 10*time.Second); err != nil {
		t.Errorf("right key: %v", err)
	}
	bad := recvtest.Script("unkeyed", 2, 1, 3, 100, false, false)
	bad.Key = []byte("open sesame\n")
	if res, err := bad.Run(dial(t, p.Addr), 10*time.Second); err == nil || !strings.Contains(res.Reject, "wrong key") {
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
		{"bad keep-for", []string{"-keep-for", "30"}, `-keep-for: "30" is not an age`},
		{"bad keep-size", []string{"-keep-size", "lots"}, `-keep-size: "lots" is not a size`},
		{"bad min-free", []string{"-min-free", "-1G"}, `-min-free: "-1G": a size must be at least one byte`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if code := exitCode(run(context.Background(), tt.args, io.Discard, &out), &out); code != 2 {
				t.Errorf("run(%q) = %d, want 2", tt.args, code)
			}
			if !strings.Contains(out.String(), tt.want) {
				t.Errorf("run(%q) printed %q, want %q", tt.args, out.String(), tt.want)
			}
		})
	}
}
