package recv

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camwire/camwire/recv/recvtest"
)

// TestOnRawFile: the hook fires once for a finished raw stream, with its
// folder and final .h264, and never for a framed camera, not even one
// whose name looks like a raw folder.
func TestOnRawFile(t *testing.T) {
	dir := t.TempDir()
	type call struct{ folder, path string }
	calls := make(chan call, 10)
	ts := startServer(t, dir, func(s *Server) {
		s.OnRawFile = func(folder, path string) { calls <- call{folder, path} }
	})

	st := recvtest.Script("raw-lookalike", 5, 1, 5, 100, false, false)
	if _, err := st.Run(ts.dial(t), 10*time.Second); err != nil {
		t.Fatalf("framed stream: %v", err)
	}
	ts.waitFiles(t, 1, 10*time.Second)

	c := ts.dial(t)
	if _, err := c.Write([]byte{0, 0, 0, 1, 0x67, 1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	raw := ts.waitFiles(t, 1, 10*time.Second)[0]

	select {
	case got := <-calls:
		if got.folder != "raw-127.0.0.1" || got.path != raw || !strings.HasSuffix(got.path, ".h264") {
			t.Errorf("OnRawFile(%q, %q), want (raw-127.0.0.1, %q)", got.folder, got.path, raw)
		}
		if filepath.Dir(got.path) != filepath.Join(dir, got.folder) {
			t.Errorf("OnRawFile path %s is not in folder %s", got.path, got.folder)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnRawFile not called for a finished raw stream")
	}
	ts.stop(t)
	select {
	case got := <-calls:
		t.Errorf("OnRawFile called again: (%q, %q); want once, for the raw stream only", got.folder, got.path)
	default:
	}
}
