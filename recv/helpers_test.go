package recv

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/camwire/camwire/internal/syncbuf"
	"github.com/camwire/camwire/recv/recvtest"
)

// testServer is an in-process receiver on a loopback port.
type testServer struct {
	srv    *Server
	addr   string
	logs   *syncbuf.Buffer
	files  chan string // finished files, from OnFile
	cancel context.CancelFunc
	done   chan error
}

// startServer runs a Server on dir with short test timings; mod adjusts
// it before Serve. The server is stopped in Cleanup if the test did not.
func startServer(t *testing.T, dir string, mod func(*Server)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{addr: ln.Addr().String(), logs: &syncbuf.Buffer{}, files: make(chan string, 1000), done: make(chan error, 1)}
	ts.srv = &Server{
		Dir:          dir,
		Logger:       slog.New(slog.NewTextHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		SyncInterval: 10 * time.Millisecond,
		SyncBytes:    16 << 10,
		OnFile:       func(_, path string) { ts.files <- path },
	}
	if mod != nil {
		mod(ts.srv)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	go func() { ts.done <- ts.srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		ts.stop(t)
		if t.Failed() {
			t.Logf("receiver log:\n%s", ts.logs)
		}
	})
	return ts
}

// stop cancels the server and waits for Serve; safe to call twice.
func (ts *testServer) stop(t *testing.T) {
	t.Helper()
	if ts.cancel == nil {
		return
	}
	ts.cancel()
	ts.cancel = nil
	select {
	case err := <-ts.done:
		if err != nil && !strings.Contains(err.Error(), "closed") {
			t.Errorf("Serve() = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return 10s after cancel")
	}
}

func (ts *testServer) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitFiles waits until n files were finished.
func (ts *testServer) waitFiles(t *testing.T, n int, timeout time.Duration) []string {
	t.Helper()
	var got []string
	deadline := time.After(timeout)
	for len(got) < n {
		select {
		case p := <-ts.files:
			got = append(got, p)
		case <-deadline:
			t.Fatalf("%d of %d files finished after %v", len(got), n, timeout)
		}
	}
	return got
}

// finished returns the finished files in dir, sorted by name (= time).
func finished(t *testing.T, dir, ext string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+ext))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}

func partials(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "*"+partialExt))
	return m
}

// checkSegments compares the camera's finished files with want.
func checkSegments(t *testing.T, dir string, want [][]byte) {
	t.Helper()
	files := finished(t, dir, ".h264")
	if len(files) != len(want) {
		t.Fatalf("%s has %d finished files %v, want %d", dir, len(files), files, len(want))
	}
	for i, f := range files {
		got, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want[i]) {
			t.Errorf("segment %d (%s): %d bytes, want %d; first difference at %d", i, filepath.Base(f), len(got), len(want[i]), firstDiff(got, want[i]))
		}
	}
	if p := partials(t, dir); len(p) > 0 {
		t.Errorf("left .partial files %v, want none", p)
	}
}

func firstDiff(a, b []byte) int {
	for i := 0; i < min(len(a), len(b)); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// readAllRecords reads what the receiver sends until it closes.
func readAll(c net.Conn, timeout time.Duration) ([]byte, error) {
	c.SetReadDeadline(time.Now().Add(timeout))
	return io.ReadAll(c)
}

// cutInFirstSegment sends camera "cam"'s first 30 records of st (inside its
// first segment) to a server on dir made with mod, then stops the server;
// it returns the camera's folder and the one .partial left.
func cutInFirstSegment(t *testing.T, dir string, st *recvtest.Stream, mod func(*Server)) (camDir, partial string) {
	t.Helper()
	ts := startServer(t, dir, mod)
	first := *st
	first.Records = st.Records[:30]
	if _, err := first.Run(ts.dial(t), 10*time.Second); err != nil {
		t.Fatalf("first connection: %v", err)
	}
	ts.stop(t)
	camDir = filepath.Join(dir, "cam")
	p := partials(t, camDir)
	if len(p) != 1 {
		t.Fatalf("partials after the cut = %v, want 1", p)
	}
	return camDir, p[0]
}
