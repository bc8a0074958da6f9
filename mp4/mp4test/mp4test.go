// Package mp4test holds test helpers shared by the mp4 and live tests:
// real libx264 clips, an access-unit splitter and ffprobe/ffmpeg oracles.
package mp4test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/camwire/camwire/internal/ffprobe"
)

// NeedTools skips the test when ffmpeg or ffprobe are missing (make test
// installs both through scripts/deps.sh).
func NeedTools(t testing.TB) {
	t.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (scripts/deps.sh installs it): %v", tool, err)
		}
	}
}

var (
	clipMu    sync.Mutex
	clipCache = map[string][]byte{}
)

// EncodeClip runs a real libx264 encode of ffmpeg's test pattern and
// returns the Annex-B stream. Results are cached per argument list.
func EncodeClip(t testing.TB, size string, seconds int, x264 ...string) []byte {
	t.Helper()
	NeedTools(t)
	args := []string{"-v", "error", "-f", "lavfi", "-i", fmt.Sprintf("testsrc=size=%s:rate=30", size),
		"-t", strconv.Itoa(seconds), "-c:v", "libx264", "-pix_fmt", "yuv420p"}
	args = append(args, x264...)
	args = append(args, "-f", "h264", "-")
	key := strings.Join(args, " ")
	clipMu.Lock()
	defer clipMu.Unlock()
	if b, ok := clipCache[key]; ok {
		return b
	}
	var stderr bytes.Buffer
	cmd := exec.Command("ffmpeg", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", key, err, stderr.Bytes())
	}
	clipCache[key] = out
	return out
}

// SplitAUs cuts an Annex-B stream into access units (7.4.1.2.3): a unit
// starts at an AUD, at SPS/PPS/SEI after a slice, or at a slice whose
// first_mb_in_slice is 0 after a slice. Each unit keeps its start codes.
func SplitAUs(t testing.TB, stream []byte) [][]byte {
	t.Helper()
	type nal struct{ start, body int }
	var nals []nal
	for i := 0; i+3 <= len(stream); {
		if stream[i] == 0 && stream[i+1] == 0 && stream[i+2] == 1 {
			s := i
			if s > 0 && stream[s-1] == 0 {
				s--
			}
			nals = append(nals, nal{s, i + 3})
			i += 3
			continue
		}
		i++
	}
	if len(nals) == 0 {
		t.Fatal("SplitAUs: no start code in stream")
	}
	var aus [][]byte
	auStart, haveVCL := nals[0].start, false
	for k, n := range nals {
		typ := stream[n.body] & 0x1f
		vcl := typ == 1 || typ == 5
		boundary := false
		switch {
		case typ == 9:
			boundary = true
		case typ == 6 || typ == 7 || typ == 8 || (typ >= 14 && typ <= 18):
			boundary = haveVCL
		case vcl:
			boundary = haveVCL && n.body+1 < len(stream) && stream[n.body+1]&0x80 != 0
		}
		if boundary && k > 0 && n.start > auStart {
			aus = append(aus, stream[auStart:n.start])
			auStart, haveVCL = n.start, false
		}
		if vcl {
			haveVCL = true
		}
	}
	return append(aus, stream[auStart:])
}

// ProbeResult is what ffprobe says about a file.
type ProbeResult struct {
	Codec    string
	Width    int
	Height   int
	Frames   int     // decoded frames (-count_frames)
	Duration float64 // format duration in seconds
	Stderr   string  // everything ffprobe -v error printed
}

// Probe runs ffprobe -v error -count_frames on path.
func Probe(t testing.TB, path string) ProbeResult {
	t.Helper()
	in, err := ffprobe.Probe(path)
	if err != nil {
		t.Fatal(err)
	}
	return ProbeResult{Codec: in.Codec, Width: in.Width, Height: in.Height, Frames: in.Frames,
		Duration: in.Duration.Seconds(), Stderr: in.Stderr}
}

// FramePTS returns the presentation times ffprobe decodes from path, in
// output (display) order.
func FramePTS(t testing.TB, path string) []float64 {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "v:0",
		"-show_entries", "frame=pts_time", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe frames %s: %v", path, err)
	}
	var pts []float64
	for _, l := range strings.Fields(string(out)) {
		v, err := strconv.ParseFloat(strings.TrimSuffix(l, ","), 64)
		if err != nil {
			t.Fatalf("ffprobe frames %s: bad pts %q", path, l)
		}
		pts = append(pts, v)
	}
	return pts
}

// FrameHashes decodes path with ffmpeg and returns each picture's MD5 in
// display order: two files with equal lists show the same pictures in the
// same order.
func FrameHashes(t testing.TB, path string, format ...string) []string {
	t.Helper()
	args := []string{"-v", "error"}
	args = append(args, format...)
	args = append(args, "-i", path, "-map", "0:v:0", "-f", "framemd5", "-")
	out, err := exec.Command("ffmpeg", args...).Output()
	if err != nil {
		t.Fatalf("ffmpeg framemd5 %s: %v", path, err)
	}
	var hashes []string
	for _, l := range strings.Split(string(out), "\n") {
		if l == "" || l[0] == '#' {
			continue
		}
		f := strings.Split(l, ",")
		hashes = append(hashes, strings.TrimSpace(f[len(f)-1]))
	}
	return hashes
}

// WriteRaw stores an Annex-B stream for ffmpeg to decode as a reference.
func WriteRaw(t testing.TB, stream []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ref.h264")
	if err := os.WriteFile(p, stream, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
