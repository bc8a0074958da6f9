package recv

import (
	"bytes"
	"io/fs"
	"math/rand"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camwire/camwire/recv/recvtest"
	"github.com/camwire/camwire/wire"
)

// storedBytes sums every file under dir.
func storedBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			fi, _ := e.Info()
			n += fi.Size()
		}
		return nil
	})
	return n
}

// TestRawRefusedWithKey: with a key, a real nc stores nothing and the
// log says why; with AllowRaw it records as before; a camera with the
// key records either way.
func TestRawRefusedWithKey(t *testing.T) {
	if _, err := exec.LookPath("nc"); err != nil {
		t.Skip("nc not installed (scripts/deps.sh installs netcat-openbsd)")
	}
	data := make([]byte, 200_000)
	rand.New(rand.NewSource(3)).Read(data)
	data[0], data[1], data[2], data[3] = 0, 0, 0, 1
	for _, allow := range []bool{false, true} {
		t.Run(map[bool]string{false: "refused", true: "allow-raw"}[allow], func(t *testing.T) {
			dir := t.TempDir()
			key := []byte("s3cret")
			ts := startServer(t, dir, func(s *Server) { s.Key, s.AllowRaw = key, allow })
			host, port, _ := net.SplitHostPort(ts.addr)
			nc := exec.Command("nc", "-N", host, port)
			nc.Stdin = bytes.NewReader(data)
			out, _ := nc.CombinedOutput() // a refused nc may see a reset; its bytes are what counts
			if !allow {
				waitLogContains(t, ts, "raw stream refused: this receiver has a key", 10*time.Second)
			} else {
				ts.waitFiles(t, 1, 10*time.Second)
			}
			st := recvtest.Script("keyed", 4, 1, 10, 1000, false, false)
			st.Key = key
			if res, err := st.Run(ts.dial(t), 20*time.Second); err != nil || res.Acked != st.Last() {
				t.Fatalf("camera with the key: acked %d of %d: %v", res.Acked, st.Last(), err)
			}
			ts.stop(t)
			raw := storedBytes(t, filepath.Join(dir, "raw-127.0.0.1"))
			want := int64(0)
			if allow {
				want = int64(len(data))
			}
			if raw != want {
				t.Errorf("raw stream stored %d bytes, want %d (nc: %s)", raw, want, out)
			}
			checkSegments(t, filepath.Join(dir, "keyed"), st.Want())
		})
	}
}

// TestJunkCannotLockOutCamera fills every slot (and more) with junk that
// trickles a byte now and then, some looking raw and some stalling in the
// preamble, with timeouts long enough to hold them for the whole test;
// a camera that connects last must still get in and record.
func TestJunkCannotLockOutCamera(t *testing.T) {
	const maxConns = 64
	tests := []struct {
		name       string
		key        []byte
		raw, stall int // junk connections of each kind
		wantLog    string
	}{
		{"raw junk, no key", nil, maxConns + 6, 0, "raw stream refused: too many raw streams"},
		{"preamble junk", nil, 0, maxConns + 6, "closed a connection still in its handshake"},
		{"both", nil, 40, 30, "closed a connection still in its handshake"},
		{"raw junk with a key", []byte("k"), maxConns + 6, 0, "raw stream refused: this receiver has a key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			ts := startServer(t, dir, func(s *Server) {
				s.Key = tt.key
				s.MaxConns = maxConns
				s.HandshakeTimeout = 5 * time.Minute
				s.IdleTimeout = 5 * time.Minute
			})
			done := make(chan struct{})
			var wg sync.WaitGroup
			defer func() { close(done); wg.Wait() }()
			junk := func(first []byte, trickle byte) {
				c := ts.dial(t)
				c.Write(first)
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer c.Close()
					tick := time.NewTicker(200 * time.Millisecond)
					defer tick.Stop()
					for {
						select {
						case <-done:
							return
						case <-tick.C:
							if trickle != 0 {
								c.Write([]byte{trickle})
							}
						}
					}
				}()
			}
			for range tt.raw {
				junk([]byte{0}, 0x41) // raw H.264 starts with a zero byte
			}
			for range tt.stall {
				junk([]byte(wire.Magic[:3]), 0) // the magic, then silence
			}
			// Accept is first come first served: the camera is last.
			st := recvtest.Script("garden", 5, 2, 20, 2000, false, false)
			st.Key = tt.key
			res, err := st.Run(ts.dial(t), 30*time.Second)
			if err != nil || res.Acked != st.Last() {
				t.Fatalf("camera after %d junk connections: acked %d of %d: %v (reject %q)", tt.raw+tt.stall, res.Acked, st.Last(), err, res.Reject)
			}
			raws := 0
			for _, s := range ts.srv.Status() {
				if s.Mode == "raw" {
					raws++
				}
			}
			if limit := maxConns - maxConns/4; raws > limit {
				t.Errorf("%d raw streams hold slots, want at most %d", raws, limit)
			}
			if tt.key != nil && raws != 0 {
				t.Errorf("%d raw streams admitted with a key", raws)
			}
			if !strings.Contains(ts.logs.String(), tt.wantLog) {
				t.Errorf("log lacks %q", tt.wantLog)
			}
			checkSegments(t, filepath.Join(dir, "garden"), st.Want())
		})
	}
}
