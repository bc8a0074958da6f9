package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/camwire/camwire/camconsole"
	"github.com/camwire/camwire/demo"
	"github.com/camwire/camwire/image/imagetest"
	"github.com/camwire/camwire/internal/qemu"
)

// demoSetup checks the demo's tools and writes camwire-init into a new
// test folder, for the demo's Init (`camwire-image demo -init`).
func demoSetup(t *testing.T) (dir, initPath string) {
	t.Helper()
	imagetest.Require(t, lookPath("ffprobe"))
	imagetest.Require(t, qemu.Available())
	imagetest.Parts(t)
	dir = t.TempDir()
	initPath = filepath.Join(dir, "camwire-init")
	if err := os.WriteFile(initPath, imagetest.Init(t, camwireInit), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, initPath
}

// TestDemo runs the demo `make demo` runs (camwire-image demo, whose
// flags cmd/camwire-image's tests check) for a few seconds: the demo image boots with the image as its disk, so its
// settings come from camwire.txt on the boot partition, and the demo
// fails unless the recordings hold exactly the frames the camera
// captured.
func TestDemo(t *testing.T) {
	dir, initPath := demoSetup(t)
	var out strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute) // with the image build, on a shared machine
	defer cancel()
	err := demo.BuildAndRun(ctx, demo.Options{Init: initPath, Recv: buildRecv(t), Image: filepath.Join(dir, "demo.img"),
		Record: 3 * time.Second}, &out, tlog{t, "build: "})
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"pi   | camwire: mount -t vfat -o ro,nosuid,nodev,noexec /dev/vda1 /boot",
		"camwire demo: ", filepath.Join(dir, "demo-recv"),
		"every frame the camera captured is in a file, none twice, none dropped.",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if files := videoFilesIn(filepath.Join(dir, "demo-recv", "demo")); len(files) == 0 {
		t.Errorf("no recordings in %s", filepath.Join(dir, "demo-recv", "demo"))
	}
}

// TestDemoInterrupted presses Ctrl-C (cancels the demo's context) after
// the camera sent its first frame but before the receiver acknowledged
// it: the demo must still shut the camera down cleanly (Ctrl-Alt-Del,
// the camera's summary) and report recordings holding every frame it
// captured, as the README promises, not kill the emulator.
func TestDemoInterrupted(t *testing.T) {
	dir, initPath := demoSetup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute) // with the image build, on a shared machine
	defer cancel()
	ctrlC, pressCtrlC := context.WithCancel(ctx)
	defer pressCtrlC()
	out := &cancelOn{s: camconsole.FirstSentPrefix, cancel: pressCtrlC}
	err := demo.BuildAndRun(ctrlC, demo.Options{Init: initPath, Recv: buildRecv(t), Image: filepath.Join(dir, "demo.img"),
		Record: time.Minute}, out, tlog{t, "build: "})
	t.Log(out.String())
	if err != nil {
		t.Fatalf("demo after a Ctrl-C before the first ack: %v", err)
	}
	if !strings.Contains(out.String(), "interrupted before the first frame reached the receiver") {
		t.Log("the first ack came before the Ctrl-C was seen: the ordinary early stop was tested")
	}
	for _, want := range []string{
		"demo | Ctrl-Alt-Del: clean shutdown",
		"pi   | " + camconsole.ShutdownLine(syscall.SIGINT),
		"every frame the camera captured is in a file, none twice, none dropped.",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}

// cancelOn collects output and calls cancel once a write contains s.
type cancelOn struct {
	mu     sync.Mutex
	b      strings.Builder
	s      string
	cancel func()
}

func (c *cancelOn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if strings.Contains(string(p), c.s) {
		c.cancel()
	}
	return c.b.Write(p)
}

func (c *cancelOn) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.String()
}

func videoFilesIn(dir string) []string {
	var files []string
	for _, ext := range []string{"*.mp4", "*.h264"} {
		m, _ := filepath.Glob(filepath.Join(dir, ext))
		files = append(files, m...)
	}
	return files
}
