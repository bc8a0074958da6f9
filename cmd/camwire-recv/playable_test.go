package main

import (
	"bytes"
	"context"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/camwire/camwire/mp4/mp4test"
	"github.com/camwire/camwire/recv/recvtest"
	"github.com/camwire/camwire/segment"
	"github.com/camwire/camwire/wire"
)

// clipPath is the real H.264 clip scripts/make-testclip.sh made: 640x360,
// 30 fps, 120 frames, an IDR with SPS/PPS every 30 frames.
const (
	clipPath   = "../../capture/testclip.h264"
	clipFrames = 120
	clipFPS    = 30
)

// clip returns the test clip and its access units.
func clip(t testing.TB) ([]byte, []segment.AU) {
	t.Helper()
	b, err := os.ReadFile(clipPath)
	if err != nil {
		t.Fatalf("test clip: %v (make it with scripts/make-testclip.sh)", err)
	}
	var sp segment.Splitter
	aus, err := sp.Write(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	aus = append(aus, sp.Flush()...)
	if len(aus) != clipFrames {
		t.Fatalf("test clip split into %d access units, want %d", len(aus), clipFrames)
	}
	return b, aus
}

// clipStream is a camera run that sends the clip as segments of per
// frames each (a multiple of the clip's GOP), stamped at 30 fps from an
// arbitrary monotonic origin.
func clipStream(t testing.TB, name string, segments, per int) *recvtest.Stream {
	_, aus := clip(t)
	st := &recvtest.Stream{Hello: wire.Hello{Name: name, Codec: "h264", Width: 640, Height: 360, FPSNum: clipFPS, FPSDen: 1}}
	copy(st.Hello.StreamID[:], name)
	const origin = 987654321
	var seq uint64
	for g := range segments {
		for i := range per {
			n := g*per + i
			au := aus[n%len(aus)]
			seq++
			st.Records = append(st.Records, wire.Frame{Seq: seq, Segment: uint32(g), TimeUS: origin + int64(n)*1e6/clipFPS, Key: au.Key, Payload: au.Data})
		}
		seq++
		st.Records = append(st.Records, wire.SegmentEnd{Seq: seq, Segment: uint32(g), Frames: uint32(per)})
	}
	return st
}

// checkMP4 asserts what every recording must satisfy: ffprobe -v error
// prints nothing, the codec is H.264, every frame decodes and the
// duration is the frames' span within one frame.
func checkMP4(t *testing.T, path string, frames int, fps float64) {
	t.Helper()
	p := mp4test.Probe(t, path)
	if p.Stderr != "" {
		t.Errorf("ffprobe -v error %s printed:\n%s", filepath.Base(path), p.Stderr)
	}
	if p.Codec != "h264" || p.Width != 640 || p.Height != 360 {
		t.Errorf("%s: codec %q %dx%d, want h264 640x360", filepath.Base(path), p.Codec, p.Width, p.Height)
	}
	if p.Frames != frames {
		t.Errorf("%s: ffprobe decoded %d frames, want %d", filepath.Base(path), p.Frames, frames)
	}
	if want := float64(frames) / fps; math.Abs(p.Duration-want) > 1/fps {
		t.Errorf("%s: duration %.4fs, want %.4fs ± one frame", filepath.Base(path), p.Duration, want)
	}
}

func glob(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}

// TestDefaultFormatIsMP4: a camwire camera into camwire-recv with no
// flags gives one playable .mp4 per segment, nothing else.
func TestDefaultFormatIsMP4(t *testing.T) {
	mp4test.NeedTools(t)
	dir := t.TempDir()
	p := startRecv(t, "-dir", dir)
	const segments, per = 3, 60
	st := clipStream(t, "cam-mp4", segments, per)
	if _, err := st.Run(dial(t, p.Addr), 30*time.Second); err != nil {
		t.Fatalf("camera run: %v", err)
	}
	p.Stop(t, syscall.SIGTERM)
	cam := filepath.Join(dir, "cam-mp4")
	files := glob(t, filepath.Join(cam, "[^.]*")) // .camwire holds the resume journal
	if len(files) != segments {
		t.Fatalf("%s holds %v, want %d .mp4 files", cam, files, segments)
	}
	for _, f := range files {
		if filepath.Ext(f) != ".mp4" {
			t.Errorf("file %s, want only .mp4", filepath.Base(f))
			continue
		}
		checkMP4(t, f, per, clipFPS)
	}
}

// TestRawFPS sends the clip with the real nc, as `raspivid | nc` would:
// the .h264 is stored byte for byte either way, and with -fps 30 an .mp4
// of every frame and the right length lands beside it.
func TestRawFPS(t *testing.T) {
	mp4test.NeedTools(t)
	if _, err := exec.LookPath("nc"); err != nil {
		t.Skipf("nc not installed (scripts/deps.sh installs netcat-openbsd): %v", err)
	}
	data, _ := clip(t)
	for _, tt := range []struct {
		name    string
		args    []string
		wantMP4 bool
	}{
		{"without -fps raw stays h264", nil, false},
		{"-fps 30 adds an mp4", []string{"-fps", "30"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := startRecv(t, append([]string{"-dir", dir}, tt.args...)...)
			host, port, _ := net.SplitHostPort(p.Addr)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// -N: shut the socket down at EOF on stdin, so the receiver
			// sees the end (OpenBSD nc; Debian's default).
			nc := exec.CommandContext(ctx, "nc", "-N", host, port)
			nc.Stdin = bytes.NewReader(data)
			if out, err := nc.CombinedOutput(); err != nil {
				t.Fatalf("nc: %v\n%s", err, out)
			}
			p.WaitLog(t, regexp.MustCompile(`msg="raw stream complete"`), 20*time.Second)
			if tt.wantMP4 {
				p.WaitLog(t, regexp.MustCompile(`msg="raw stream remuxed to MP4"`), 20*time.Second)
			}
			p.Stop(t, syscall.SIGTERM)

			raws := glob(t, filepath.Join(dir, "raw-127.0.0.1", "*.h264"))
			if len(raws) != 1 {
				t.Fatalf("raw .h264 files %v, want 1", raws)
			}
			if got, _ := os.ReadFile(raws[0]); !bytes.Equal(got, data) {
				t.Errorf("%s: %d bytes, want the %d bytes nc sent, identical", raws[0], len(got), len(data))
			}
			mp4s := glob(t, filepath.Join(dir, "raw-127.0.0.1", "*.mp4*"))
			if !tt.wantMP4 {
				if len(mp4s) != 0 {
					t.Errorf("without -fps: %v, want no .mp4", mp4s)
				}
				return
			}
			if want := raws[0][:len(raws[0])-len(".h264")] + ".mp4"; len(mp4s) != 1 || mp4s[0] != want {
				t.Fatalf("mp4 files %v, want [%s]", mp4s, want)
			}
			checkMP4(t, mp4s[0], clipFrames, clipFPS)
		})
	}
}

func TestFPSFlag(t *testing.T) {
	for _, tt := range []struct {
		in       string
		num, den uint32
	}{
		{"30", 30, 1},
		{"25", 25, 1},
		{"29.97", 2997, 100},
		{"30000/1001", 30000, 1001},
		{"0.5", 1, 2},
	} {
		var r rate
		if err := r.Set(tt.in); err != nil || r.num != tt.num || r.den != tt.den {
			t.Errorf("rate.Set(%q) = %d/%d, %v; want %d/%d", tt.in, r.num, r.den, err, tt.num, tt.den)
		}
	}
	for _, bad := range []string{"", "x", "-30", "0", "1001", "1/0"} {
		var r rate
		if err := r.Set(bad); err == nil {
			t.Errorf("rate.Set(%q) = %d/%d, nil; want an error", bad, r.num, r.den)
		}
	}
}
