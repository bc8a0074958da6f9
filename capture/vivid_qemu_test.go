package capture_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/camwire/camwire/image"
	"github.com/camwire/camwire/image/imagetest"
	"github.com/camwire/camwire/internal/qemu"
)

// testWriter copies the guest console into the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\r\n"))
	return len(p), nil
}

// TestV4L2OnVivid runs the V4L2 source against a real kernel: Debian's
// arm64 kernel in QEMU with the vivid test driver, through the real ioctl
// layer (struct layouts, mmap, poll, STREAMOFF and freeing the buffers so
// the node can be opened again). vivid has no H.264, so this covers raw
// mode; the fake driver tests cover H.264.
func TestV4L2OnVivid(t *testing.T) {
	imagetest.Require(t, qemu.Available())
	parts := imagetest.Parts(t)
	init := imagetest.Init(t, "github.com/camwire/camwire/capture/internal/vividprobe")
	gz, err := image.Initramfs{Init: init, Parts: parts,
		Modules: []image.Module{{Name: "vivid", Why: "the virtual camera under test"}}}.Build()
	if err != nil {
		t.Fatal(err)
	}
	initrd := filepath.Join(t.TempDir(), "initrd.gz")
	if err := os.WriteFile(initrd, gz, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	m, err := qemu.Start(ctx, qemu.Config{Board: qemu.Virt, Kernel: parts.Kernel(), Initrd: initrd,
		Append: "console=ttyAMA0 rdinit=/init panic=-1 quiet", Console: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	var at qemu.Cursor
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`^PROBE OK frames=10 increasing_monotonic=true`),
		regexp.MustCompile(`^RUN frames=8 bytes=614400 interval=\S+ err=context canceled`),
		regexp.MustCompile(`^H264 v4l2 /dev/video\d+: driver vivid: not supported by this driver: pixel format H264 \(it offers \w+\)`),
	} {
		l, err := m.WaitFor(ctx, &at, regexp.MustCompile(`^(PROBE|RUN|H264|VIVID FAIL)`))
		if err != nil {
			t.Fatal(err)
		}
		if !want.MatchString(l.Text) {
			t.Errorf("guest said %q, want a match for %q", l.Text, want)
		}
	}
	if err := m.Wait(ctx); err != nil {
		t.Errorf("guest did not power off: %v", err)
	}
}
