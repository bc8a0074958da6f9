// Package benchclip makes the real H.264 the benchmarks run on: libx264
// encodes of ffmpeg's moving test picture with noise, at the camera's
// 1080p30 and 16 Mbit/s, made once and cached in ~/.cache/camwire/clips
// ($CAMWIRE_CACHE/clips). Zero-filled payloads flatter every parser and
// copier (they compress, they hold no start-code emulation, their sizes
// never vary), so no benchmark figure that a goal is judged on uses them.
package benchclip

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// Kind is one encoder setup.
type Kind struct {
	Name string   // file name in the cache, says what the encode is
	Args []string // libx264 options beyond the common ones
}

var (
	// BFrames: 3 B-frames (pictures out of decode order), SPS/PPS before
	// every keyframe as raspivid's --inline does.
	BFrames = Kind{"1080p30-16M-bf3-repeat", []string{"-bf", "3", "-x264-params", "repeat-headers=1"}}
	// Slices: 8 slices per picture, no B-frames, SPS/PPS once at the start
	// as ffmpeg and rpicam-vid without --inline write them.
	Slices = Kind{"1080p30-16M-slices8-once", []string{"-bf", "0", "-x264-params", "slices=8"}}
)

// Kinds are the clips every real-video benchmark runs on.
var Kinds = []Kind{BFrames, Slices}

// Seconds is each clip's length: 300 frames, ~20 MB.
const Seconds = 10

// FPS is the clips' frame rate.
const FPS = 30

var mu sync.Mutex

// Dir is where the clips are cached.
func Dir() (string, error) {
	if d := os.Getenv("CAMWIRE_CACHE"); d != "" {
		return filepath.Join(d, "clips"), nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "camwire", "clips"), nil
}

// Path returns the cached clip of kind k, encoding it first if needed.
// It skips the benchmark when ffmpeg is missing (scripts/deps.sh
// installs it) and fails it with ffmpeg's own message when the encode
// fails.
func Path(tb testing.TB, k Kind) string {
	tb.Helper()
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		tb.Skipf("ffmpeg not installed (scripts/deps.sh installs it): %v", err)
	}
	dir, err := Dir()
	if err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(dir, k.Name+".h264")
	mu.Lock()
	defer mu.Unlock()
	if fi, err := os.Stat(p); err == nil && fi.Size() > 0 {
		return p
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	tmp := fmt.Sprintf("%s.%d.tmp", p, os.Getpid())
	args := []string{"-v", "error", "-f", "lavfi",
		"-i", fmt.Sprintf("testsrc2=size=1920x1080:rate=%d,noise=alls=12:allf=t", FPS),
		"-t", strconv.Itoa(Seconds), "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
		"-b:v", "16M", "-maxrate", "16M", "-bufsize", "8M", "-g", "30"}
	args = append(args, k.Args...)
	args = append(args, "-f", "h264", "-y", tmp)
	var stderr bytes.Buffer
	cmd := exec.Command("ffmpeg", args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		os.Remove(tmp)
		tb.Fatalf("ffmpeg making the %s clip: %v\n%s", k.Name, err, stderr.Bytes())
	}
	if err := os.Rename(tmp, p); err != nil {
		tb.Fatal(err)
	}
	return p
}

// Repeated writes the clip of kind k n times over into dir and returns
// the file and its size: a longer run of real video without a longer
// encode. Every repeat starts with a keyframe and, for every kind, the
// clip's SPS/PPS.
func Repeated(tb testing.TB, k Kind, n int, dir string) (string, int64) {
	tb.Helper()
	clip, err := os.ReadFile(Path(tb, k))
	if err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(dir, fmt.Sprintf("%s-x%d.h264", k.Name, n))
	big := bytes.Repeat(clip, n)
	if err := os.WriteFile(p, big, 0o644); err != nil {
		tb.Fatal(err)
	}
	return p, int64(len(big))
}
