package recv

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camwire/camwire/recv/recvtest"
	"github.com/camwire/camwire/wire"
)

// smallFS mounts a 2 MiB tmpfs for the test and unmounts it in Cleanup.
func smallFS(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("disk-full test needs root to mount a small tmpfs (make test runs as root)")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// TestDiskFull fills a small filesystem while a camera records: the
// receiver must name the file in its error, stop acknowledging what it
// could not store, keep the connection, and finish correctly once space
// is freed.
func TestDiskFull(t *testing.T) {
	mnt := smallFS(t)
	filler := filepath.Join(mnt, "filler")
	if err := os.WriteFile(filler, make([]byte, 1400<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(mnt, "recv")
	ts := startServer(t, dir, func(s *Server) {
		s.SyncBytes = 32 << 10
		s.RetryInterval = 20 * time.Millisecond
	})
	st := recvtest.Script("full", 5, 2, 30, 30000, false, false)
	st.Notices = make(chan string, 10)
	var acked atomic.Uint64
	st.OnAck = func(seq uint64) { acked.Store(seq) }
	runDone := make(chan error, 1)
	conn := ts.dial(t)
	go func() {
		_, err := st.Run(conn, 60*time.Second)
		runDone <- err
	}()

	var notice string
	select {
	case notice = <-st.Notices:
	case err := <-runDone:
		t.Fatalf("stream ended (%v) before the disk filled; filler too small?", err)
	case <-time.After(20 * time.Second):
		t.Fatal("no notice from the receiver about the full disk")
	}
	if !strings.Contains(notice, filepath.Join(dir, "full")) || !strings.Contains(notice, "no space") {
		t.Errorf("notice %q does not name the file and the cause", notice)
	}
	// Wait until the receiver has retried and failed again, then check
	// that nothing unwritten was acknowledged.
	waitLog(t, ts, "storage still failing", 10*time.Second)
	a := acked.Load()
	checkDurablePrefix(t, filepath.Join(dir, "full"), st, a)
	waitLog(t, ts, "storage still failing", 10*time.Second) // again, after the check
	if got := acked.Load(); got != a {
		t.Errorf("acked moved from %d to %d while the disk was full", a, got)
	}
	if a == st.Last() {
		t.Fatalf("everything was acknowledged although the disk filled")
	}

	// The production sender reconnects when acks stop; the new
	// connection resumes at the last ack and hits the full disk again.
	conn.Close()
	if err := <-runDone; err == nil {
		t.Fatal("stream completed on a full disk")
	}
	go func() {
		_, err := st.Run(ts.dial(t), 60*time.Second)
		runDone <- err
	}()
	select {
	case <-st.Notices:
	case <-time.After(20 * time.Second):
		t.Fatal("no notice on the second connection to the full disk")
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-runDone:
		if err != nil {
			t.Fatalf("stream after freeing space: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("stream did not complete after space was freed")
	}
	if !strings.Contains(ts.logs.String(), "storage works again") {
		t.Errorf("log does not say storage recovered")
	}
	ts.stop(t)
	checkSegments(t, filepath.Join(dir, "full"), st.Want())
	if tails, _ := filepath.Glob(filepath.Join(dir, "full", "*"+tailInfix+"*")); len(tails) > 0 {
		t.Errorf("side files %v; the failed connection's own writes should have been cut back", tails)
	}
}

// waitLog waits for one more occurrence of substr in the log than there
// is now: the log line is the only sign that the receiver retried and
// failed again.
func waitLog(t *testing.T, ts *testServer, substr string, timeout time.Duration) {
	t.Helper()
	n := strings.Count(ts.logs.String(), substr)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := ts.logs.Wait(ctx, func(log string) bool { return strings.Count(log, substr) > n }); err != nil {
		t.Fatalf("log has no new %q after %v", substr, timeout)
	}
}

// waitLogContains waits until the log contains substr at all.
func waitLogContains(t *testing.T, ts *testServer, substr string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := ts.logs.Wait(ctx, func(log string) bool { return strings.Contains(log, substr) }); err != nil {
		t.Fatalf("log has no %q after %v", substr, timeout)
	}
}

// checkDurablePrefix checks that every frame up to seq acked is on disk:
// finished segments complete, the open one starting with its acked frames.
func checkDurablePrefix(t *testing.T, camDir string, st *recvtest.Stream, acked uint64) {
	t.Helper()
	var segs [][]byte
	var cur []byte
	seg := uint32(0)
	for _, r := range st.Records {
		f, ok := r.(wire.Frame)
		if !ok || f.Seq > acked {
			continue
		}
		if f.Segment != seg {
			segs = append(segs, cur)
			cur, seg = nil, f.Segment
		}
		cur = append(cur, f.Payload...)
	}
	segs = append(segs, cur)
	files := append(finished(t, camDir, ".h264"), partials(t, camDir)...)
	for i, want := range segs {
		if i >= len(files) {
			t.Fatalf("acked %d covers %d segments, only %d files", acked, len(segs), len(files))
		}
		got, _ := os.ReadFile(files[i])
		if !bytes.HasPrefix(got, want) {
			t.Errorf("%s: acked bytes not on disk (%d bytes on disk, %d acked)", files[i], len(got), len(want))
		}
	}
}

// TestDiskFullRaw: a raw stream that hits a full disk holds its bytes,
// names the file in the log, and completes once space is freed.
func TestDiskFullRaw(t *testing.T) {
	mnt := smallFS(t)
	filler := filepath.Join(mnt, "filler")
	if err := os.WriteFile(filler, make([]byte, 1400<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(mnt, "recv")
	ts := startServer(t, dir, func(s *Server) { s.RetryInterval = 20 * time.Millisecond })
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	data[0], data[1], data[2], data[3] = 0, 0, 0, 1
	c := ts.dial(t)
	go func() {
		c.Write(data)
		c.(*net.TCPConn).CloseWrite()
	}()
	waitLogContains(t, ts, "raw stream: cannot write", 10*time.Second)
	if !strings.Contains(ts.logs.String(), filepath.Join(dir, "raw-127.0.0.1")) {
		t.Errorf("log does not name the file")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	files := ts.waitFiles(t, 1, 20*time.Second)
	got, _ := os.ReadFile(files[0])
	if !bytes.Equal(got, data) {
		t.Errorf("%s: %d bytes, want the %d sent; first difference at %d", files[0], len(got), len(data), firstDiff(got, data))
	}
	c.Close()
}

// TestShutdownWhileDiskFull: Ctrl+C must not wait for space to return.
func TestShutdownWhileDiskFull(t *testing.T) {
	mnt := smallFS(t)
	if err := os.WriteFile(filepath.Join(mnt, "filler"), make([]byte, 1400<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(mnt, "recv")
	ts := startServer(t, dir, func(s *Server) { s.SyncBytes = 32 << 10 })
	st := recvtest.Script("full", 6, 1, 60, 30000, false, false)
	st.Notices = make(chan string, 10)
	go st.Run(ts.dial(t), 60*time.Second)
	select {
	case <-st.Notices:
	case <-time.After(20 * time.Second):
		t.Fatal("no notice about the full disk")
	}
	ts.stop(t) // fails the test if Serve does not return
	if p := partials(t, filepath.Join(dir, "full")); len(p) != 1 {
		t.Errorf("partials after shutdown = %v, want 1", p)
	}
}
