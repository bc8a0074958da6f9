package playback

import (
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/camwire/camwire/mp4"
	"github.com/camwire/camwire/mp4/mp4test"
	"github.com/camwire/camwire/sink"
	"github.com/camwire/camwire/wire"
)

const fps = 30

// t0 is the first frame's capture time: half a second past 12:00:00, so
// names (truncated to the second) are off from the truth as they are in
// real recordings.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 500e6, time.UTC)

// clip is 10 s of libx264 at 30 fps with a keyframe every 15 frames and
// no B-frames (the Pi's encoder makes none).
func clip(t *testing.T) [][]byte {
	return mp4test.SplitAUs(t, mp4test.EncodeClip(t, "320x240", 10, "-bf", "0", "-g", "15",
		"-x264-params", "keyint=15:min-keyint=15:scenecut=0"))
}

func isKey(au []byte) bool {
	for i := 0; i+3 < len(au); i++ {
		if au[i] == 0 && au[i+1] == 0 && au[i+2] == 1 && au[i+3]&0x1f == 5 {
			return true
		}
	}
	return false
}

// frameUS is frame i's capture time on the camera's clock.
func frameUS(i int) int64 { return int64(i) * 1e6 / fps }

// record writes frames idx of aus as one recording in dir/cam1, named as
// the receiver names it: its first frame's time, to the second.
func record(t *testing.T, dir string, aus [][]byte, idx []int) string {
	t.Helper()
	first := t0.Add(time.Duration(frameUS(idx[0])) * time.Microsecond)
	name := first.UTC().Format(nameLayout) + "-0190a0b0-0000-7000-8000-" + first.Format("150405.000")[7:] + "00000000.mp4"
	if err := os.MkdirAll(filepath.Join(dir, "cam1"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "cam1", name)
	h := wire.Hello{Name: "cam1", Codec: "h264", Width: 320, Height: 240, FPSNum: fps, FPSDen: 1}
	w, err := (&mp4.Sink{}).Create(path, sink.SegmentInfo{Hello: h, Segment: 1, Start: first})
	if err != nil {
		t.Fatal(err)
	}
	for k, i := range idx {
		if err := w.WriteFrame(wire.Frame{Seq: uint64(k + 1), Segment: 1, TimeUS: frameUS(i), Key: isKey(aus[i]), Payload: aus[i]}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	return path
}

func seq(from, to int) []int {
	var s []int
	for i := from; i < to; i++ {
		s = append(s, i)
	}
	return s
}

// recordings writes cam1's test history:
//
//	frames   0–59  file A  ┐ gapless: one span of 4 s
//	frames  60–119 file B  ┘
//	frames 120–179 not recorded (camera off): a gap of 2 s
//	frames 180–209 file C, then frames 210–239 dropped by the camera,
//	frames 240–299 still file C: two spans
//
// (A gap under a second cannot be told from the names' rounding: only a
// prft box gives a file's start to better than a second.)
func recordings(t *testing.T) (string, [][]byte) {
	aus := clip(t)
	dir := t.TempDir()
	record(t, dir, aus, seq(0, 60))
	record(t, dir, aus, seq(60, 120))
	record(t, dir, aus, append(seq(180, 210), seq(240, 300)...))
	return dir, aus
}

func get(t *testing.T, srv http.Handler, u string) (*http.Response, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest("GET", u, nil))
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

// name is where a time lands on the names' one-second grid.
func onGrid(d time.Duration) time.Time { return t0.Truncate(time.Second).Add(d) }

func TestList(t *testing.T) {
	dir, _ := recordings(t)
	srv := New(dir)
	type entry struct {
		Start    time.Time
		Duration float64
		URL      string
	}
	u := func(start time.Time, d float64) string {
		v := url.Values{"path": {"cam1"}, "start": {start.Format(time.RFC3339Nano)}, "duration": {formatSecs(d)}}
		return "http://example.com/get?" + v.Encode()
	}
	// Names say 12:00:00 and 12:00:06: the spans start there; file B's
	// start (12:00:02 by name) is taken from A's end, 4.0 s exactly.
	startC := onGrid(6 * time.Second)
	startC2 := startC.Add(time.Duration(frameUS(240)-frameUS(180)) * time.Microsecond)
	tests := []struct {
		query string
		want  []entry
	}{
		{"", []entry{
			{onGrid(0), 4, u(onGrid(0), 4)},
			{startC, 1, u(startC, 1)},
			{startC2, 2, u(startC2, 2)},
		}},
		{"&start=2026-03-01T12:00:01Z&end=2026-03-01T12:00:06.5Z", []entry{
			{onGrid(time.Second), 3, u(onGrid(time.Second), 3)},
			{startC, 0.5, u(startC, 0.5)},
		}},
		{"&start=2026-03-01T13:00:00Z", nil},
	}
	for _, tt := range tests {
		res, body := get(t, srv, "http://example.com/list?path=cam1"+tt.query)
		if tt.want == nil {
			if res.StatusCode != http.StatusNotFound {
				t.Errorf("list%s: status %d, want 404 (%s)", tt.query, res.StatusCode, body)
			}
			continue
		}
		var got []entry
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("list%s: %v: %s", tt.query, err, body)
		}
		for i := range got {
			got[i].Duration = math.Round(got[i].Duration*1000) / 1000
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("list%s (-want +got):\n%s", tt.query, diff)
		}
	}
}

func formatSecs(d float64) string {
	b, _ := json.Marshal(d)
	return string(b)
}

// boxes lists the top-level box types of a file.
func boxes(b []byte) []string {
	var out []string
	for off := 0; off+8 <= len(b); {
		n := int(binary.BigEndian.Uint32(b[off:]))
		if n < 8 {
			break
		}
		out = append(out, string(b[off+4:off+8]))
		off += n
	}
	return out
}

func TestGet(t *testing.T) {
	dir, aus := recordings(t)
	srv := New(dir)
	var src []byte
	for _, au := range aus {
		src = append(src, au...)
	}
	srcHashes := mp4test.FrameHashes(t, mp4test.WriteRaw(t, src), "-f", "h264")
	tests := []struct {
		name          string
		start         time.Time
		duration      float64
		first, frames int // source frames the file must show
	}{
		// 1.2 s in: the keyframe at or before is frame 30 (1.0 s); the
		// range ends at 3.2 s, in file B: frames 30–95.
		{"across files", onGrid(1200 * time.Millisecond), 2, 30, 66},
		{"at a keyframe", onGrid(500 * time.Millisecond), 1, 15, 30},
		// C starts at 12:00:06 by name; 0.7 s in is frame 201, whose
		// keyframe is 195; the piece ends at frame 209 (its hole).
		{"up to a hole", onGrid(6700 * time.Millisecond), 5, 195, 15},
		// 8.1 s is 0.1 s past the keyframe at the hole's end (frame 240).
		{"after a hole", onGrid(8100 * time.Millisecond), 1, 240, 33},
		{"before the first file", onGrid(-3 * time.Second), 3.5, 0, 15},
	}
	for _, tt := range tests {
		for _, format := range []string{"fmp4", "mp4"} {
			t.Run(tt.name+"/"+format, func(t *testing.T) {
				v := url.Values{"path": {"cam1"}, "start": {tt.start.Format(time.RFC3339Nano)},
					"duration": {formatSecs(tt.duration)}, "format": {format}}
				res, body := get(t, srv, "/get?"+v.Encode())
				if res.StatusCode != 200 {
					t.Fatalf("status %d: %s", res.StatusCode, body)
				}
				path := filepath.Join(t.TempDir(), "out.mp4")
				if err := os.WriteFile(path, body, 0o644); err != nil {
					t.Fatal(err)
				}
				p := mp4test.Probe(t, path)
				if p.Stderr != "" {
					t.Errorf("ffprobe: %s", p.Stderr)
				}
				if p.Frames != tt.frames {
					t.Errorf("frames = %d, want %d", p.Frames, tt.frames)
				}
				if want := float64(tt.frames) / fps; math.Abs(p.Duration-want) > 0.5/fps {
					t.Errorf("duration = %.3f s, want %.3f s", p.Duration, want)
				}
				// The same pictures as the camera's own frames: a remux.
				if diff := cmp.Diff(srcHashes[tt.first:tt.first+tt.frames], mp4test.FrameHashes(t, path)); diff != "" {
					t.Errorf("decoded pictures differ from source frames %d… (-want +got):\n%s", tt.first, diff)
				}
				got := boxes(body)
				want := []string{"ftyp", "moov", "mdat"}
				if format == "fmp4" {
					want = []string{"ftyp", "moov"}
					for range got[2:] {
						want = append(want, "moof", "mdat")
					}
					want = want[:len(got)]
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("top-level boxes (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestGetEndsAtRange(t *testing.T) {
	// A range ending mid-span: the file's duration is keyframe-to-end,
	// not the GOP's.
	dir, _ := recordings(t)
	v := url.Values{"path": {"cam1"}, "start": {onGrid(time.Second).Format(time.RFC3339)}, "duration": {"0.4"}}
	res, body := get(t, New(dir), "/get?"+v.Encode())
	if res.StatusCode != 200 {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	path := filepath.Join(t.TempDir(), "out.mp4")
	os.WriteFile(path, body, 0o644)
	if p := mp4test.Probe(t, path); p.Frames != 12 || math.Abs(p.Duration-0.4) > 0.5/fps {
		t.Errorf("frames %d duration %.3f, want 12 and 0.400", p.Frames, p.Duration)
	}
}

func TestRefused(t *testing.T) {
	dir, _ := recordings(t)
	outside := t.TempDir()
	record(t, outside, clip(t), seq(0, 30))
	if err := os.Symlink(filepath.Join(outside, "cam1"), filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	srv := New(dir)
	start := url.QueryEscape(onGrid(0).Format(time.RFC3339))
	tests := []struct {
		url  string
		code int
	}{
		{"/list?path=../..", 400},
		{"/list?path=..", 400},
		{"/list?path=cam1/../cam1", 400},
		{"/list?path=" + url.QueryEscape(outside+"/cam1"), 400},
		{"/list?path=", 400},
		{"/list?path=link", 404}, // a link out of DIR is not followed
		{"/list?path=nobody", 404},
		{"/get?path=../../etc&start=" + start + "&duration=1", 400},
		{"/get?path=..%2f..&start=" + start + "&duration=1", 400},
		{"/get?path=link&start=" + start + "&duration=1", 404},
		{"/get?path=cam1&start=yesterday&duration=1", 400},
		{"/get?path=cam1&start=" + start + "&duration=-1", 400},
		{"/get?path=cam1&start=" + start + "&duration=1&format=avi", 400},
		{"/list?path=cam1&start=noon", 400},
		{"/get?path=cam1&start=" + start + "&duration=1", 200},
	}
	for _, tt := range tests {
		res, body := get(t, srv, tt.url)
		if res.StatusCode != tt.code {
			t.Errorf("GET %s: status %d, want %d: %s", tt.url, res.StatusCode, tt.code, body)
		}
		if tt.code != 200 && res.Header.Get("Content-Type") != "application/json" {
			t.Errorf("GET %s: error answered as %q, want MediaMTX's JSON", tt.url, res.Header.Get("Content-Type"))
		}
	}
}

// withPrft inserts a prft box (version 1) after the moov of the file at
// path, saying its first frame was captured at at — what a receiver that
// maps the camera's clock writes.
func withPrft(t *testing.T, path string, at time.Time) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var off int
	for off+8 <= len(b) {
		n := int(binary.BigEndian.Uint32(b[off:]))
		off += n
		if string(b[off-n+4:off-n+8]) == "moov" {
			break
		}
	}
	d := at.Sub(ntpEpoch)
	ntp := uint64(d/time.Second)<<32 | uint64(d%time.Second)<<32/uint64(time.Second)
	box := binary.BigEndian.AppendUint32(nil, 8+4+4+8+8)
	box = append(box, "prft"...)
	box = append(box, 1, 0, 0, 0)
	box = binary.BigEndian.AppendUint32(box, 1)
	box = binary.BigEndian.AppendUint64(box, ntp)
	box = binary.BigEndian.AppendUint64(box, 0)
	out := append(append(append([]byte(nil), b[:off]...), box...), b[off:]...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPrftStart(t *testing.T) {
	// With prft boxes a gap of half a second is a gap, and spans start on
	// the frame's own time rather than the name's second.
	aus := clip(t)
	dir := t.TempDir()
	at := func(i int) time.Time { return t0.Add(time.Duration(frameUS(i)) * time.Microsecond) }
	withPrft(t, record(t, dir, aus, seq(0, 60)), at(0))
	withPrft(t, record(t, dir, aus, seq(60, 90)), at(60))
	withPrft(t, record(t, dir, aus, seq(105, 150)), at(105))
	got, err := New(dir).Spans("cam1")
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		got[i].Duration = got[i].Duration.Round(time.Millisecond)
	}
	want := []Span{{at(0), 3 * time.Second}, {at(105), 1500 * time.Millisecond}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("spans (-want +got):\n%s", diff)
	}
}

func TestGrowingFile(t *testing.T) {
	// A .partial file ends mid-fragment while it is written: its
	// complete fragments are listed and served.
	aus := clip(t)
	dir := t.TempDir()
	path := record(t, dir, aus, seq(0, 60)) // fragments: frames 0–30, 31–59
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".partial", b[:len(b)-100], 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := New(dir).Spans("cam1")
	if err != nil {
		t.Fatal(err)
	}
	want := []Span{{onGrid(0), time.Duration(frameUS(31)) * time.Microsecond}}
	for i := range got {
		got[i].Duration = got[i].Duration.Round(time.Microsecond)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("spans (-want +got):\n%s", diff)
	}
}
