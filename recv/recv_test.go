package recv

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camwire/camwire/recv/recvtest"
	"github.com/camwire/camwire/wire"
)

// TestRawWithNC records raw streams sent by the real nc, several at once:
// each file must be byte-identical to what nc read from its stdin,
// including a stream shorter than the magic and one that starts like it.
func TestRawWithNC(t *testing.T) {
	nc, err := exec.LookPath("nc")
	if err != nil {
		t.Skip("nc (netcat-openbsd) not installed: scripts/deps.sh installs it")
	}
	dir := t.TempDir()
	ts := startServer(t, dir, nil)
	rng := rand.New(rand.NewSource(1))
	inputs := map[string][]byte{
		"h264":       append([]byte{0, 0, 0, 1, 0x67}, make([]byte, 3<<20)...),
		"big":        make([]byte, 5<<20+17),
		"tiny":       {0, 0, 1},
		"magic-like": []byte("CAMWIRX and then some bytes"),
		"one byte":   {'C'},
	}
	rng.Read(inputs["h264"][5:])
	rng.Read(inputs["big"])
	src := t.TempDir()
	var wg sync.WaitGroup
	for name, data := range inputs {
		p := filepath.Join(src, strings.ReplaceAll(name, " ", "_"))
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			host, port, _ := strings.Cut(ts.addr, ":")
			cmd := exec.Command(nc, "-N", host, port)
			f, _ := os.Open(p)
			defer f.Close()
			cmd.Stdin = f
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("nc %s: %v: %s", name, err, out)
			}
		}()
	}
	wg.Wait()
	ts.waitFiles(t, len(inputs), 20*time.Second)

	want := map[[32]byte]string{}
	for name, data := range inputs {
		want[sha256.Sum256(data)] = name
	}
	files := finished(t, filepath.Join(dir, "raw-127.0.0.1"), ".h264")
	if len(files) != len(inputs) {
		t.Fatalf("raw-127.0.0.1 has %d files, want %d", len(files), len(inputs))
	}
	for _, f := range files {
		got, _ := os.ReadFile(f)
		name, ok := want[sha256.Sum256(got)]
		if !ok {
			t.Errorf("%s (%d bytes) matches no input", f, len(got))
		}
		delete(want, sha256.Sum256(got))
		_ = name
	}
	for _, name := range want {
		t.Errorf("input %q was not stored byte for byte", name)
	}
}

// TestRawCutStaysPartial: a raw stream that ends without EOF (idle
// timeout) keeps its bytes in a .partial file.
func TestRawCutStaysPartial(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir, func(s *Server) { s.IdleTimeout = 200 * time.Millisecond })
	c := ts.dial(t)
	data := []byte{0, 0, 0, 1, 0x65, 1, 2, 3}
	c.Write(data)
	if _, err := readAll(c, 5*time.Second); err != nil {
		t.Fatalf("receiver did not close an idle raw stream: %v", err)
	}
	c.Close()
	ts.stop(t)
	p := partials(t, filepath.Join(dir, "raw-127.0.0.1"))
	if len(p) != 1 {
		t.Fatalf("partials = %v, want 1", p)
	}
	if got, _ := os.ReadFile(p[0]); !bytes.Equal(got, data) {
		t.Errorf("%s = %x, want %x", p[0], got, data)
	}
	if !strings.Contains(ts.logs.String(), "idle timeout") {
		t.Errorf("log does not say why the raw stream ended:\n%s", ts.logs)
	}
}

// TestFramedResumeAtRandomCuts cuts the connection at seeded random byte
// offsets (during the handshake, inside records, between them) and
// reconnects until everything is acknowledged; now and then the receiver
// restarts as well. Every segment must be complete, in order, with no
// frame lost or duplicated, and an acknowledgement is never taken back.
func TestFramedResumeAtRandomCuts(t *testing.T) {
	for _, seed := range []int64{1, 2, 3} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			dir := t.TempDir()
			st := recvtest.Script("cam-1", seed, 4, 30, 8000, true, true)
			rng := rand.New(rand.NewSource(seed))
			ts := startServer(t, dir, nil)
			var acked uint64
			cuts := 0
			for attempt := 0; ; attempt++ {
				if attempt > 400 {
					t.Fatalf("no completion after %d connections; acked %d of %d", attempt, acked, st.Last())
				}
				if attempt%9 == 8 {
					ts.stop(t)
					ts = startServer(t, dir, nil)
				}
				c := ts.dial(t)
				n := 1 + rng.Intn(40000)
				res, err := st.Run(&recvtest.CutConn{Conn: c, N: n}, 10*time.Second)
				if res.Welcome < acked {
					t.Fatalf("connection %d: welcome acked %d, but %d was acknowledged before", attempt, res.Welcome, acked)
				}
				acked = max(acked, res.Acked)
				if err == nil {
					break
				}
				if errors.Is(err, recvtest.ErrRejected) {
					t.Fatalf("connection %d: %v", attempt, err)
				}
				cuts++
			}
			ts.stop(t)
			if cuts < 5 {
				t.Errorf("only %d cuts; the test does not exercise resume", cuts)
			}
			checkSegments(t, filepath.Join(dir, "cam-1"), st.Want())
		})
	}
}

// TestResumeAfterCrashLeftovers simulates what a SIGKILL leaves: bytes in
// the .partial past the journaled size (written, never acknowledged) and
// a torn journal record. The receiver must move the extra bytes aside
// (not delete them), ignore the torn record and resume losslessly.
func TestResumeAfterCrashLeftovers(t *testing.T) {
	dir := t.TempDir()
	st := recvtest.Script("cam", 7, 2, 40, 4000, false, false)
	camDir, p := cutInFirstSegment(t, dir, st, nil)
	junk := []byte("written but never acknowledged")
	appendFile(t, p, junk)
	journals, _ := filepath.Glob(filepath.Join(camDir, stateDir, "*"+journalExt))
	if len(journals) != 1 {
		t.Fatalf("journals = %v, want 1", journals)
	}
	appendFile(t, journals[0], []byte{0, 0, 0, 40, 1, 2, 3})

	ts := startServer(t, dir, nil)
	if _, err := st.Run(ts.dial(t), 10*time.Second); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if !strings.Contains(ts.logs.String(), "continues when its camera reconnects") {
		t.Errorf("startup log does not report the resumable .partial:\n%s", ts.logs)
	}
	ts.stop(t)
	checkSegments(t, camDir, st.Want())
	tails, _ := filepath.Glob(filepath.Join(camDir, "*"+tailInfix+"*"))
	if len(tails) != 1 {
		t.Fatalf("unacked tails = %v, want 1", tails)
	}
	if got, _ := os.ReadFile(tails[0]); !bytes.HasSuffix(got, junk) {
		t.Errorf("%s = %q, want it to end with %q", tails[0], got, junk)
	}
}

func appendFile(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// TestDuplicatesAfterResume: a sender that resends records the receiver
// already has (including a segment-end) gets them dropped, not stored
// twice.
func TestDuplicatesAfterResume(t *testing.T) {
	dir := t.TempDir()
	st := recvtest.Script("dup", 3, 2, 10, 1000, false, false)
	var mu sync.Mutex
	published := map[uint64]int{}
	ts := startServer(t, dir, func(s *Server) {
		s.OnFrame = func(camera string, _ wire.Hello, f wire.Frame) {
			mu.Lock()
			published[f.Seq]++
			mu.Unlock()
		}
	})
	if _, err := st.Run(ts.dial(t), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	// A sender that ignores Welcome and sends everything again.
	c := ts.dial(t)
	b := recvtest.Handshake(st.Hello)
	for _, r := range st.Records {
		b = wire.Append(b, r)
	}
	c.Write(b)
	c.(interface{ CloseWrite() error }).CloseWrite()
	readAll(c, 5*time.Second)
	c.Close()
	ts.stop(t)
	checkSegments(t, filepath.Join(dir, "dup"), st.Want())
	for _, r := range st.Records {
		if f, ok := r.(wire.Frame); ok && published[f.Seq] != 1 {
			t.Errorf("OnFrame saw frame %d %d times, want once", f.Seq, published[f.Seq])
		}
	}
}

// TestKey: with -key, the right key is accepted; a wrong or missing one
// is rejected with a reason the camera can show.
func TestKey(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir, func(s *Server) { s.Key = []byte("sesame") })
	tests := []struct {
		name       string
		key        []byte
		wantReject string
	}{
		{"right key", []byte("sesame"), ""},
		{"wrong key", []byte("Sesame"), "wrong key"},
		{"no key", nil, "requires the shared key"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := recvtest.Script(fmt.Sprint("keycam", i), int64(i), 1, 3, 100, false, false)
			st.Key = tt.key
			res, err := st.Run(ts.dial(t), 5*time.Second)
			if tt.wantReject == "" {
				if err != nil {
					t.Fatalf("Run() = %v, want success", err)
				}
				return
			}
			if !errors.Is(err, recvtest.ErrRejected) || !strings.Contains(res.Reject, tt.wantReject) {
				t.Errorf("Run() = %v (reject %q), want a reject containing %q", err, res.Reject, tt.wantReject)
			}
			if _, err := os.Stat(filepath.Join(dir, st.Hello.Name)); err == nil {
				t.Errorf("rejected camera got a folder")
			}
		})
	}
}

// TestTakeoverHalfOpen: a pulled cable leaves the old connection open on
// the receiver. When the camera reconnects with the same stream, the old
// connection is closed, what it delivered is kept, and the new one
// resumes after it.
func TestTakeoverHalfOpen(t *testing.T) {
	dir := t.TempDir()
	st := recvtest.Script("cable", 9, 2, 20, 500, false, false)
	ts := startServer(t, dir, nil)
	old := ts.dial(t)
	defer old.Close()
	b := recvtest.Handshake(st.Hello)
	for _, r := range st.Records[:10] {
		b = wire.Append(b, r)
	}
	old.Write(b)
	// Wait until the old connection has its first acknowledgement.
	rd := wire.NewReader(old, wire.Limits{})
	old.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		r, err := rd.Next()
		if err != nil {
			t.Fatalf("old connection: %v", err)
		}
		if a, ok := r.(wire.Ack); ok && a.Seq == 10 {
			break
		}
	}
	res, err := st.Run(ts.dial(t), 10*time.Second)
	if err != nil {
		t.Fatalf("new connection: %v", err)
	}
	if res.Welcome != 10 {
		t.Errorf("welcome acked %d, want 10 (what the old connection delivered)", res.Welcome)
	}
	if _, err := rd.Next(); err == nil {
		t.Error("old connection still open after the camera reconnected")
	}
	ts.stop(t)
	checkSegments(t, filepath.Join(dir, "cable"), st.Want())
}
