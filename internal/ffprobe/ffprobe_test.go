package ffprobe

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestProbe decodes the committed test clip (120 frames, 640x360) and
// refuses a file that is not video.
func TestProbe(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skipf("ffprobe not installed (package ffmpeg): %v", err)
	}
	in, err := Probe("../../capture/testclip.h264")
	if err != nil {
		t.Fatal(err)
	}
	if in.Codec != "h264" || in.Width != 640 || in.Height != 360 || in.Frames != 120 || in.Duration != 0 || in.Stderr != "" {
		t.Errorf("Probe(testclip) = %+v, want h264 640x360, 120 frames, no duration (raw H.264 has none), nothing on stderr", in)
	}
	junk := filepath.Join(t.TempDir(), "junk.h264")
	if err := os.WriteFile(junk, []byte("not video at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, err := Frames(junk); err == nil || !strings.Contains(err.Error(), junk) {
		t.Errorf("Frames(junk) = %d, %v; want an error naming the file", n, err)
	}
}
