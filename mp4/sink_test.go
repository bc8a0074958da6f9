package mp4

import (
	"bytes"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/camwire/camwire/mp4/mp4test"
	"github.com/camwire/camwire/sink"
	"github.com/camwire/camwire/wire"
)

func hello(fpsNum, fpsDen uint32) wire.Hello {
	return wire.Hello{Name: "cam1", Codec: "h264", Width: 320, Height: 240, FPSNum: fpsNum, FPSDen: fpsDen}
}

// frameTime is frame i's capture time at fpsNum/fpsDen, computed from the
// absolute index the way a camera clock would produce it.
func frameTime(i int, fpsNum, fpsDen uint32) int64 {
	return int64(math.Round(float64(i) * 1e6 * float64(fpsDen) / float64(fpsNum)))
}

func isKey(au []byte) bool {
	for i := 0; i+3 < len(au); i++ {
		if au[i] == 0 && au[i+1] == 0 && au[i+2] == 1 && au[i+3]&0x1f == 5 {
			return true
		}
	}
	return false
}

// record writes aus through a new mp4 writer at path, syncing every
// syncEvery frames, and finishes the file. It returns the synced sizes.
func record(t *testing.T, path string, h wire.Hello, aus [][]byte, times []int64, syncEvery int) []int64 {
	t.Helper()
	w, err := (&Sink{}).Create(path, sink.SegmentInfo{Hello: h, Segment: 1, Start: time.Now()})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	var sizes []int64
	for i, au := range aus {
		if err := w.WriteFrame(wire.Frame{Seq: uint64(i + 1), Segment: 1, TimeUS: times[i], Key: isKey(au), Payload: au}); err != nil {
			t.Fatalf("WriteFrame(%d): %v", i, err)
		}
		if (i+1)%syncEvery == 0 {
			size, _, err := w.Sync()
			if err != nil {
				t.Fatalf("Sync after frame %d: %v", i, err)
			}
			sizes = append(sizes, size)
		}
	}
	if err := w.Finish(); err != nil {
		t.Fatalf("Finish: %v", err)
	}
	return sizes
}

func times(n int, fpsNum, fpsDen uint32, start int64) []int64 {
	ts := make([]int64, n)
	for i := range ts {
		ts[i] = start + frameTime(i, fpsNum, fpsDen)
	}
	return ts
}

// checkFile asserts what every recording must satisfy: ffprobe is silent,
// sees H.264 of the right size, decodes every frame, and the duration is
// the frames' span within one frame.
func checkFile(t *testing.T, path string, frames int, wantDur, frameDur float64) {
	t.Helper()
	p := mp4test.Probe(t, path)
	if p.Stderr != "" {
		t.Errorf("ffprobe -v error %s printed:\n%s", path, p.Stderr)
	}
	if p.Codec != "h264" {
		t.Errorf("codec = %q, want h264", p.Codec)
	}
	if p.Width != 320 || p.Height != 240 {
		t.Errorf("size = %dx%d, want 320x240", p.Width, p.Height)
	}
	if p.Frames != frames {
		t.Errorf("decoded frames = %d, want %d", p.Frames, frames)
	}
	if math.Abs(p.Duration-wantDur) > frameDur {
		t.Errorf("duration = %.4fs, want %.4fs ± %.4fs", p.Duration, wantDur, frameDur)
	}
}

func TestRecordingPlays(t *testing.T) {
	tests := []struct {
		name string
		x264 []string
	}{
		{"no B-frames", []string{"-bf", "0", "-g", "30"}},
		// libx264's default GOP has B-frames with pyramid; 10 s at
		// keyint 600 makes x264's 6-bit POC LSB wrap many times in a GOP.
		{"B-frames", []string{"-bf", "2", "-g", "600"}},
		{"B-frames no pyramid", []string{"-bf", "3", "-x264-params", "b-pyramid=none", "-g", "60"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream := mp4test.EncodeClip(t, "320x240", 10, tt.x264...)
			aus := mp4test.SplitAUs(t, stream)
			if len(aus) != 300 {
				t.Fatalf("split %d access units, want 300", len(aus))
			}
			path := filepath.Join(t.TempDir(), "seg.mp4")
			record(t, path, hello(30, 1), aus, times(len(aus), 30, 1, 123456789), 15)
			checkFile(t, path, 300, 10, 1.0/30)

			// Same pictures in the same order as decoding the raw stream.
			want := mp4test.FrameHashes(t, mp4test.WriteRaw(t, stream), "-f", "h264")
			if diff := cmp.Diff(want, mp4test.FrameHashes(t, path)); diff != "" {
				t.Errorf("decoded pictures differ from the raw stream's (-want +got frame hashes):\n%s", diff)
			}
			// Presentation times step by one frame in display order.
			pts := mp4test.FramePTS(t, path)
			for i := 1; i < len(pts); i++ {
				if d := pts[i] - pts[i-1]; math.Abs(d-1.0/30) > 0.0005 {
					t.Fatalf("pts[%d]-pts[%d] = %.5f, want %.5f (pts %v)", i, i-1, d, 1.0/30, pts[max(0, i-5):min(len(pts), i+5)])
				}
			}
		})
	}
}

// TestLongRunNoDrift writes ten minutes at 29.97 fps (timestamps that are
// never whole ticks) with tiny frames: the duration must still match the
// frame count exactly.
func TestLongRunNoDrift(t *testing.T) {
	if testing.Short() {
		t.Skip("long synthetic run; skipped with -short")
	}
	gop := mp4test.SplitAUs(t, mp4test.EncodeClip(t, "320x240", 1, "-bf", "0", "-g", "30", "-crf", "51"))
	const n = 10 * 60 * 30
	aus := make([][]byte, n)
	for i := range aus {
		aus[i] = gop[i%len(gop)]
	}
	path := filepath.Join(t.TempDir(), "long.mp4")
	record(t, path, hello(30000, 1001), aus, times(n, 30000, 1001, 0), 15)
	checkFile(t, path, n, n*1001.0/30000, 1001.0/30000)
}

// TestJitterAndUnknownRate: stamps with ±5 ms jitter and no rate in the
// Hello still give every frame and the right length.
func TestJitterAndUnknownRate(t *testing.T) {
	aus := mp4test.SplitAUs(t, mp4test.EncodeClip(t, "320x240", 10, "-bf", "2", "-g", "600"))
	rng := rand.New(rand.NewPCG(1, 2))
	ts := times(len(aus), 30, 1, 0)
	for i := 1; i < len(ts); i++ {
		ts[i] += rng.Int64N(10000) - 5000
	}
	path := filepath.Join(t.TempDir(), "jitter.mp4")
	record(t, path, hello(0, 0), aus, ts, 13)
	checkFile(t, path, len(aus), 10, 1.0/30)
}

// TestTruncatedFilePlays cuts a synced file at random bytes, as a crash or
// power loss would, and checks every frame of every complete fragment
// still decodes.
func TestTruncatedFilePlays(t *testing.T) {
	aus := mp4test.SplitAUs(t, mp4test.EncodeClip(t, "320x240", 3, "-bf", "2", "-g", "30"))
	dir := t.TempDir()
	full := filepath.Join(dir, "full.mp4")
	const every = 10
	sizes := record(t, full, hello(30, 1), aus, times(len(aus), 30, 1, 0), every)
	data, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 6 {
		cut := sizes[0] + rng.Int64N(int64(len(data))-sizes[0])
		complete := 0 // frames in fragments wholly before cut
		for i, s := range sizes {
			if s <= cut {
				complete = (i + 1) * every
			}
		}
		p := filepath.Join(dir, "cut.mp4")
		if err := os.WriteFile(p, data[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		got := mp4test.Probe(t, p)
		if got.Frames < complete {
			t.Errorf("file cut at byte %d/%d: decoded %d frames, want ≥ %d (complete fragments)", cut, len(data), got.Frames, complete)
		}
		if got.Codec != "h264" {
			t.Errorf("file cut at byte %d: codec %q, want h264", cut, got.Codec)
		}
	}
}

// TestReopenContinues syncs, writes frames that are never synced, "crashes",
// truncates to the synced size and reopens: the finished file must hold
// every frame exactly once, as if nothing had happened.
func TestReopenContinues(t *testing.T) {
	for _, tt := range []struct {
		name   string
		x264   []string
		syncAt int
	}{
		{"mid-GOP B-frames", []string{"-bf", "2", "-g", "600"}, 137},
		{"no B-frames", []string{"-bf", "0", "-g", "30"}, 45},
		{"before first frame", []string{"-bf", "0", "-g", "30"}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stream := mp4test.EncodeClip(t, "320x240", 10, tt.x264...)
			aus := mp4test.SplitAUs(t, stream)
			ts := times(len(aus), 30, 1, 5e6)
			path := filepath.Join(t.TempDir(), "seg.mp4")
			info := sink.SegmentInfo{Hello: hello(30, 1), Segment: 7}
			s := &Sink{}
			w, err := s.Create(path, info)
			if err != nil {
				t.Fatal(err)
			}
			write := func(w sink.SegmentWriter, i int) {
				t.Helper()
				if err := w.WriteFrame(wire.Frame{Seq: uint64(i + 1), Segment: 7, TimeUS: ts[i], Key: isKey(aus[i]), Payload: aus[i]}); err != nil {
					t.Fatalf("WriteFrame(%d): %v", i, err)
				}
			}
			for i := range tt.syncAt {
				write(w, i)
			}
			size, state, err := w.Sync()
			if err != nil {
				t.Fatal(err)
			}
			for i := tt.syncAt; i < tt.syncAt+40; i++ { // written, never acknowledged
				write(w, i)
			}
			if _, _, err := w.(*writer).Sync(); err != nil { // the bytes reach the file...
				t.Fatal(err)
			}
			// ...and then the process dies; the receiver moves the tail aside.
			if err := os.Truncate(path, size); err != nil {
				t.Fatal(err)
			}
			w2, err := s.Reopen(path, info, size, state)
			if err != nil {
				t.Fatalf("Reopen: %v", err)
			}
			for i := tt.syncAt; i < len(aus); i++ {
				write(w2, i)
				if i%20 == 0 {
					if _, _, err := w2.Sync(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := w2.Finish(); err != nil {
				t.Fatal(err)
			}
			checkFile(t, path, len(aus), 10, 1.0/30)
			want := mp4test.FrameHashes(t, mp4test.WriteRaw(t, stream), "-f", "h264")
			if diff := cmp.Diff(want, mp4test.FrameHashes(t, path)); diff != "" {
				t.Errorf("decoded pictures differ from the raw stream's (-want +got frame hashes):\n%s", diff)
			}
		})
	}
}

func TestReopenRejectsMismatch(t *testing.T) {
	aus := mp4test.SplitAUs(t, mp4test.EncodeClip(t, "320x240", 1, "-bf", "0", "-g", "30"))
	path := filepath.Join(t.TempDir(), "seg.mp4")
	s := &Sink{}
	w, err := s.Create(path, sink.SegmentInfo{Hello: hello(30, 1)})
	if err != nil {
		t.Fatal(err)
	}
	for i, au := range aus[:10] {
		if err := w.WriteFrame(wire.Frame{Seq: uint64(i + 1), TimeUS: int64(i) * 33333, Payload: au}); err != nil {
			t.Fatal(err)
		}
	}
	size, state, err := w.Sync()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		size  int64
		state []byte
	}{
		{"size differs from file", size - 1, state},
		{"garbage state", size, []byte("{")},
		{"no init in state", size, []byte(`{"v":1}`)},
		{"other version", size, []byte(`{"v":99,"init":true}`)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Reopen(path, sink.SegmentInfo{Hello: hello(30, 1)}, tt.size, tt.state); err == nil {
				t.Errorf("Reopen(%d, %q) = nil error, want one", tt.size, tt.state)
			}
		})
	}
}

// TestUndecodableFramesKept: frames that cannot be samples (before the
// first keyframe, garbage) are no error, stay in the file byte for byte,
// and the file still plays every good frame without a word from ffprobe.
func TestUndecodableFramesKept(t *testing.T) {
	stream := mp4test.EncodeClip(t, "320x240", 2, "-bf", "2", "-g", "30")
	aus := mp4test.SplitAUs(t, stream)
	garbage := []byte("this is not H.264")
	for _, tt := range []struct {
		name   string
		frames [][]byte
		want   int // good frames
	}{
		{"P-frames before the first keyframe", append(slices.Clone(aus[25:30]), aus...), len(aus)},
		{"garbage first", append([][]byte{garbage}, aus...), len(aus)},
		{"garbage in the middle", slices.Concat(aus[:40], [][]byte{garbage}, aus[40:]), len(aus)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "seg.mp4")
			s := &Sink{}
			info := sink.SegmentInfo{Hello: hello(30, 1)}
			w, err := s.Create(path, info)
			if err != nil {
				t.Fatal(err)
			}
			good := 0
			for i, au := range tt.frames {
				if err := w.WriteFrame(wire.Frame{Seq: uint64(i + 1), TimeUS: int64(good) * 1e6 / 30, Payload: au}); err != nil {
					t.Fatalf("WriteFrame(%d) = %v, want nil (content is never a storage error)", i, err)
				}
				if w.(Undecodable).Undecodable() == i-good {
					good++ // not kept raw: the next good frame is one frame later
				}
				if i == 3 { // a Reopen in between keeps the count and the ftyp state
					size, state, err := w.Sync()
					if err != nil {
						t.Fatal(err)
					}
					w.Close()
					if w, err = s.Reopen(path, info, size, state); err != nil {
						t.Fatalf("Reopen: %v", err)
					}
				}
			}
			bad := w.(Undecodable).Undecodable()
			if err := w.Finish(); err != nil {
				t.Fatal(err)
			}
			if bad != len(tt.frames)-tt.want {
				t.Errorf("Undecodable() = %d, want %d", bad, len(tt.frames)-tt.want)
			}
			p := mp4test.Probe(t, path)
			if p.Stderr != "" || p.Codec != "h264" || p.Frames != tt.want {
				t.Errorf("ffprobe: %d frames of %q, stderr %q; want %d h264 frames, silent", p.Frames, p.Codec, p.Stderr, tt.want)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(data, tt.frames[0]) && !bytes.Contains(data, garbage) {
				t.Error("the undecodable bytes are not in the file")
			}
			if !bytes.HasPrefix(data[4:], []byte("ftyp")) {
				t.Errorf("file starts with %q, want an ftyp box", data[4:8])
			}
		})
	}
}

func TestFtypMatchesInitSegment(t *testing.T) {
	aus := mp4test.SplitAUs(t, mp4test.EncodeClip(t, "320x240", 1, "-bf", "0"))
	tl := NewTimeline(hello(30, 1))
	if _, _, err := tl.Push(aus[0], 0); err != nil {
		t.Fatal(err)
	}
	init, err := InitSegment(tl.Params())
	if err != nil {
		t.Fatal(err)
	}
	if ftyp := ftypOnly(); !bytes.HasPrefix(init, ftyp) {
		t.Errorf("init segment starts %q, want the ftyp %q", init[:len(ftyp)], ftyp)
	}
}

func TestUsToTicks(t *testing.T) {
	for _, tt := range []struct{ us, want int64 }{
		{0, 0}, {1_000_000, 90000}, {33333, 3000}, {33367, 3003}, {-33333, -3000}, {600_600_000, 54054000},
	} {
		if got := usToTicks(tt.us); got != tt.want {
			t.Errorf("usToTicks(%d) = %d, want %d", tt.us, got, tt.want)
		}
	}
}

// TestRemuxRawStream turns a raw recording (as `raspivid | nc` leaves it,
// here cut mid-GOP at the start, as when nc joins late) into an MP4.
func TestRemuxRawStream(t *testing.T) {
	stream := mp4test.EncodeClip(t, "320x240", 4, "-bf", "2", "-g", "30")
	aus := mp4test.SplitAUs(t, stream)
	raw := bytes.Join(aus[10:], nil) // starts with 20 undecodable frames
	dst := filepath.Join(t.TempDir(), "raw.mp4")
	frames, skipped, err := Remux(dst, bytes.NewReader(raw), hello(30, 1))
	if err != nil {
		t.Fatalf("Remux: %v", err)
	}
	if frames != 90 || skipped != 20 {
		t.Errorf("Remux = %d frames, %d skipped; want 90, 20", frames, skipped)
	}
	checkFile(t, dst, 90, 3, 1.0/30)

	if _, _, err := Remux(filepath.Join(t.TempDir(), "x.mp4"), bytes.NewReader(raw), hello(0, 0)); err == nil {
		t.Error("Remux without a frame rate = nil error, want one")
	}
	bad := filepath.Join(t.TempDir(), "bad.mp4")
	if _, _, err := Remux(bad, bytes.NewReader([]byte("not h264 at all")), hello(30, 1)); err == nil {
		t.Error("Remux of garbage = nil error, want one")
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Errorf("failed Remux left %s behind (stat: %v)", bad, err)
	}
}

// TestRemuxFile: the MP4 lands beside the raw file under its final name,
// the raw file is untouched, and an existing MP4 is never replaced.
func TestRemuxFile(t *testing.T) {
	stream := mp4test.EncodeClip(t, "320x240", 2, "-bf", "0", "-g", "30")
	dir := t.TempDir()
	src := filepath.Join(dir, "20260101T000000Z-x.h264")
	if err := os.WriteFile(src, stream, 0o644); err != nil {
		t.Fatal(err)
	}
	dst, frames, skipped, err := RemuxFile(src, hello(30, 1))
	if err != nil {
		t.Fatalf("RemuxFile: %v", err)
	}
	if want := filepath.Join(dir, "20260101T000000Z-x.mp4"); dst != want || frames != 60 || skipped != 0 {
		t.Errorf("RemuxFile = %s, %d frames, %d skipped; want %s, 60, 0", dst, frames, skipped, want)
	}
	checkFile(t, dst, 60, 2, 1.0/30)
	if got, _ := os.ReadFile(src); !bytes.Equal(got, stream) {
		t.Errorf("source changed: %d bytes, want %d", len(got), len(stream))
	}
	if p, _ := filepath.Glob(filepath.Join(dir, "*.partial")); len(p) != 0 {
		t.Errorf("left %v behind", p)
	}
	before, _ := os.ReadFile(dst)
	if _, _, _, err := RemuxFile(src, hello(25, 1)); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("second RemuxFile = %v, want an error saying the MP4 exists", err)
	}
	if after, _ := os.ReadFile(dst); !bytes.Equal(after, before) {
		t.Error("second RemuxFile changed the existing MP4")
	}
}

// TestInitCache: a Sink's cached init segments are InitSegment's bytes
// for each SPS and PPS, even where two pairs join to the same bytes, and
// a caller changing its copy (SetCreationTime) leaves the next one alone.
func TestInitCache(t *testing.T) {
	aus := mp4test.SplitAUs(t, mp4test.EncodeClip(t, "320x240", 1, "-bf", "0"))
	tl := NewTimeline(hello(30, 1))
	if _, _, err := tl.Push(aus[0], 0); err != nil {
		t.Fatal(err)
	}
	sps, pps := tl.Params()
	baseline := []byte{0x67, 0x42, 0xc0, 0x0a, 0xd9, 0x1e, 0x84, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xc8, 0x3c, 0x48, 0x99, 0x20}
	// sps+pps[:1] followed by pps[1:] is the same bytes as sps then pps.
	pairs := [][2][]byte{{sps, pps}, {baseline, pps}, {sps, pps}, {append(append([]byte(nil), sps...), pps[0]), pps[1:]}}
	var c initCache
	for i, p := range pairs {
		want, wantErr := InitSegment(p[0], p[1])
		got, err := c.get(p[0], p[1])
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("pair %d: get error %v, InitSegment error %v", i, err, wantErr)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("pair %d: get =\n%x\nInitSegment =\n%x", i, got, want)
		}
		if got != nil {
			SetCreationTime(got, time.Unix(1e9, 0))
		}
	}
}
