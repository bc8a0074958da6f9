package guestbench_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camwire/camwire/capture"
	"github.com/camwire/camwire/internal/guestbench"
	"github.com/camwire/camwire/internal/testkit"
	"github.com/camwire/camwire/recv"
	"github.com/google/go-cmp/cmp"
)

func TestMain(m *testing.M) { testkit.Main(m) }

func TestControlAddr(t *testing.T) {
	for _, tc := range []struct {
		cmdline, want, err string
	}{
		{"console=ttyAMA0 guestbench.ctrl=10.0.2.2:4242 quiet\n", "10.0.2.2:4242", ""},
		{"console=ttyAMA0", "", "no guestbench.ctrl=HOST:PORT"},
		{"guestbench.ctrl=10.0.2.2", "", "guestbench.ctrl=10.0.2.2: address 10.0.2.2: missing port"},
	} {
		got, err := guestbench.ControlAddr(tc.cmdline)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("ControlAddr(%q) = %q, %v; want %q, error containing %q", tc.cmdline, got, err, tc.want, tc.err)
		}
	}
}

func TestParseCPU(t *testing.T) {
	if d, err := guestbench.ParseCPU(guestbench.FormatCPU(1234567 * time.Microsecond)); err != nil || d != 1234567*time.Microsecond {
		t.Errorf("ParseCPU(FormatCPU(1.234567s)) = %v, %v", d, err)
	}
	for _, bad := range []string{"cpu", "cpu x", "cpu -1", "started"} {
		if _, err := guestbench.ParseCPU(bad); err == nil {
			t.Errorf("ParseCPU(%q) succeeded, want an error", bad)
		}
	}
}

// TestSession runs a guest's side on this machine with the real
// programs (camwire-init built for it, sh, cat, nc) against a real
// receiver and sink: both commands do their work and report CPU time,
// a bad command is answered with an error and the session goes on.
func TestSession(t *testing.T) {
	if _, err := exec.LookPath("nc"); err != nil {
		t.Skipf("nc not installed (scripts/deps.sh installs it): %v", err)
	}
	clip := capture.TestClip()
	path := filepath.Join(t.TempDir(), "clip.h264")
	if err := os.WriteFile(path, clip, 0o644); err != nil {
		t.Fatal(err)
	}
	want, err := guestbench.Want(clip)
	if err != nil {
		t.Fatal(err)
	}
	g := &guestbench.Guest{Recorder: testkit.Build(t, testkit.Module+"/cmd/camwire-init"), Clip: path, Logf: t.Logf}
	hc, gc := net.Pipe()
	served := make(chan error, 1)
	go func() { served <- g.Serve(gc) }()
	h := guestbench.NewHost(hc)
	h.Timeout = 2 * time.Minute

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &recv.Server{Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	sctx, sstop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	defer func() { sstop(); <-done }()

	if _, err := h.StopCamwire(); err == nil || !strings.Contains(err.Error(), "no camwire-init is running") {
		t.Errorf("stop before camwire: %v, want the guest's error", err)
	}
	if err := h.StartCamwire(ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	if err := guestbench.WaitStored(ctx, srv, want); err != nil {
		t.Fatal(err)
	}
	cam, err := h.StopCamwire()
	if err != nil {
		t.Fatal(err)
	}
	if cam <= 0 {
		t.Errorf("camwire-init CPU time %v, want > 0", cam)
	}

	sln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sink := guestbench.NewSink(sln)
	defer sink.Close()
	if _, err := h.NC(sln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{int64(len(clip))}, sink.Received()); diff != "" {
		t.Errorf("sink after cat | nc (-want +got):\n%s", diff)
	}
	if _, err := h.NC("127.0.0.1"); err == nil {
		t.Error("nc to an address without a port succeeded, want the guest's error")
	}
	if err := h.Quit(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve after quit: %v", err)
	}
	t.Logf("camwire-init %v CPU for %d bytes", cam, len(clip))
}
