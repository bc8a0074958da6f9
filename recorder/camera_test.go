package recorder

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camwire/camwire/bootreport"
	"github.com/camwire/camwire/camconsole"
	"github.com/camwire/camwire/config"
	"github.com/camwire/camwire/internal/syncbuf"
	"github.com/camwire/camwire/recv"
)

// waitOut waits until out contains want; the recorder prints it from its
// own goroutines.
func waitOut(t *testing.T, out *syncbuf.Buffer, want string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("output lacks %q after 15s:\n%s", want, out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMissingCameraNamesTheReason: with no /dev/video0 the recorder does
// not end with "no such file": it prints and sends the kernel's reason,
// holds the error state (the LED's error pattern) and starts capturing
// once the device appears.
func TestMissingCameraNamesTheReason(t *testing.T) {
	logs := &syncbuf.Buffer{}
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithCancel(context.Background())
	rdone := make(chan struct{})
	srv := &recv.Server{Dir: dir, Logger: slog.New(slog.NewTextHandler(logs, nil))}
	go func() { defer close(rdone); srv.Serve(rctx, ln) }()
	t.Cleanup(func() { rcancel(); <-rdone })

	proc := t.TempDir()
	os.WriteFile(filepath.Join(proc, "modules"), []byte("vchiq 1 0 - Live 0x0\nbcm2835_v4l2 1 0 - Live 0x0\n"), 0o644)
	cfg := config.Default()
	cfg.Name = "nocam"
	cfg.Receiver = ln.Addr().String()
	cfg.Device = filepath.Join(t.TempDir(), "video0")
	var out syncbuf.Buffer
	r := &Recorder{
		Config: cfg,
		Out:    &out,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Hardware: bootreport.Gatherer{Proc: proc, Kernel: func() ([]string, error) {
			return []string{"[    4.23] bcm2835_vchiq: probe of 3f00b840.mailbox failed with error -110"}, nil
		}},
		DrainTimeout: time.Second,
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	want := "no camera driver bound: vchiq probe failed: bcm2835_vchiq: probe of 3f00b840.mailbox failed with error -110"
	waitOut(t, &out, camconsole.CameraPrefix+want+"\n")
	waitOut(t, &out, camconsole.StateError.Line()+"\n")
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(logs.String(), "camera says: camera: "+want) {
		if time.Now().After(deadline) {
			t.Fatalf("receiver never logged the reason; its log:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The boot report's summary, which the receiver logs, names it too.
	for !strings.Contains(logs.String(), "boot report: camwire boot report: nocam on unknown board") {
		if time.Now().After(deadline) {
			t.Fatalf("receiver never logged the boot report; its log:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "no "+cfg.Device+": "+want) {
		t.Errorf("boot report summary does not name the missing device:\n%s", logs)
	}
	reports, _ := filepath.Glob(filepath.Join(dir, "nocam", ".camwire", "boot", "*.txt"))
	if len(reports) != 1 {
		t.Errorf("boot reports stored: %v, want one", reports)
	}
	select {
	case err := <-done:
		t.Fatalf("recorder ended (%v) while the camera was missing", err)
	default:
	}

	// The device appears (a plain file: opening works, the V4L2 calls
	// fail), so capture starts and this time fails for good.
	if err := os.WriteFile(cfg.Device, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitOut(t, &out, camconsole.CameraPrefix+cfg.Device+" appeared; starting capture\n")
	if err := <-done; err == nil || strings.Contains(err.Error(), "no such file") {
		t.Errorf("Run = %v, want the V4L2 error of a file that is not a device", err)
	}
	if strings.Count(out.String(), camconsole.CameraPrefix+"no camera driver bound") != 1 {
		t.Errorf("reason printed more than once:\n%s", out.String())
	}
}
