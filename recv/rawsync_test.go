package recv

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRawFsyncErrorKeepsPartial: a raw stream whose background fsync
// failed once stays .partial, although the final fsync succeeds (Linux
// reports a writeback error once): its file may lack pages the camera
// sent, and nothing can send them again.
func TestRawFsyncErrorKeepsPartial(t *testing.T) {
	eio := errors.New("sync raw.h264.partial: input/output error")
	failed := make(chan struct{})
	dir := t.TempDir()
	ts := startServer(t, dir, func(s *Server) {
		n := 0
		s.syncFile = func(f *os.File) error {
			n++ // only the raw stream's goroutines, one at a time
			if n == 1 {
				close(failed)
				return eio
			}
			return f.Sync()
		}
	})
	c := ts.dial(t)
	defer c.Close()
	if _, err := c.Write([]byte{0, 0, 0, 1, 0x67, 1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-failed: // the background fsync, after rawSyncEvery
	case <-time.After(10 * time.Second):
		t.Fatal("no background fsync of the raw stream")
	}
	c.(*net.TCPConn).CloseWrite()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.logs.Wait(ctx, func(log string) bool {
		return strings.Contains(log, "raw stream complete") || strings.Contains(log, "file stays .partial")
	}); err != nil {
		t.Fatal("the raw stream did not end 10 s after the camera closed it")
	}
	ts.stop(t)
	camDir := filepath.Join(dir, "raw-127.0.0.1")
	if got := finished(t, camDir, ".h264"); len(got) != 0 {
		t.Errorf("finished raw files %v after a failed fsync, want none", got)
	}
	if got := partials(t, camDir); len(got) != 1 {
		t.Errorf("raw .partial files %v, want 1", got)
	}
	if !strings.Contains(ts.logs.String(), eio.Error()) {
		t.Errorf("log does not carry the fsync error %q", eio)
	}
}
