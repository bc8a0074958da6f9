package mp4

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/camwire/camwire/mp4/mp4test"
	"github.com/camwire/camwire/sink"
	"github.com/camwire/camwire/wire"
)

func TestNTPRoundTrip(t *testing.T) {
	for _, tt := range []time.Time{
		time.Date(2026, 12, 2, 14, 5, 0, 123456000, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2035, 6, 1, 0, 0, 0, 999999000, time.UTC),
	} {
		if got := FromNTP(NTP(tt)); got.Sub(tt).Abs() > time.Microsecond {
			t.Errorf("FromNTP(NTP(%v)) = %v", tt, got)
		}
	}
	// 2026-12-02T14:05:00Z is 4005209100 s after 1900 (datetime arithmetic).
	if got, want := NTP(time.Date(2026, 12, 2, 14, 5, 0, 0, time.UTC))>>32, uint64(4005209100); got != want {
		t.Errorf("NTP seconds = %d, want %d", got, want)
	}
}

// A camera whose frames map to wall-clock times: the file's mvhd, tkhd
// and mdhd carry the start, ffprobe shows it as creation_time, and each
// fragment opens with a prft naming its first frame's capture time.
func TestCaptureTimesInFile(t *testing.T) {
	aus := mp4test.SplitAUs(t, mp4test.EncodeClip(t, "320x240", 3, "-bf", "0", "-g", "30"))
	start := time.Date(2026, 12, 2, 14, 5, 0, 250000000, time.UTC)
	const base = 37_000_000 // camera clock at the first frame, µs
	wall := func(us int64) (time.Time, bool) { return start.Add(time.Duration(us-base) * time.Microsecond), true }
	path := filepath.Join(t.TempDir(), "seg.mp4")
	w, err := (&Sink{}).Create(path, sink.SegmentInfo{Hello: hello(30, 1), Segment: 1, Start: start, Wall: wall})
	if err != nil {
		t.Fatal(err)
	}
	var want []prftBox
	for i, au := range aus {
		us := base + frameTime(i, 30, 1)
		if i%30 == 0 { // a Sync every 30 frames: fragments start at 0, 1, 2 s
			want = append(want, prftBox{wall: start.Add(time.Duration(us-base) * time.Microsecond), media: uint64(i * 3000)})
		}
		if err := w.WriteFrame(wire.Frame{Seq: uint64(i + 1), Segment: 1, TimeUS: us, Key: isKey(au), Payload: au}); err != nil {
			t.Fatal(err)
		}
		if (i+1)%30 == 0 {
			if _, _, err := w.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	created, got := fileTimes(t, b)
	if wantSecs := uint32(start.Unix() + mp4Epoch); created["mvhd"] != wantSecs || created["tkhd"] != wantSecs || created["mdhd"] != wantSecs {
		t.Errorf("creation times %v, want %d in mvhd, tkhd and mdhd", created, wantSecs)
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(prftBox{}), cmp.Comparer(func(a, b time.Time) bool { return a.Sub(b).Abs() <= time.Microsecond })); diff != "" {
		t.Errorf("prft boxes (-want +got):\n%s", diff)
	}

	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format_tags=creation_time", "-of", "default=nw=1:nk=1", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v: %s", err, out)
	}
	if got, want := strings.TrimSpace(string(out)), "2026-12-02T14:05:00.000000Z"; got != want {
		t.Errorf("ffprobe creation_time = %q, want %q", got, want)
	}
	if p := mp4test.Probe(t, path); p.Frames != len(aus) {
		t.Errorf("ffprobe counts %d frames, want %d: the prft boxes must not disturb playback", p.Frames, len(aus))
	}
}

type prftBox struct {
	wall  time.Time
	media uint64
}

// fileTimes reads the creation times of mvhd, tkhd, mdhd (version 0)
// and every top-level prft.
func fileTimes(t *testing.T, b []byte) (map[string]uint32, []prftBox) {
	t.Helper()
	created := map[string]uint32{}
	var prfts []prftBox
	walk(b, func(typ string, box []byte) {
		switch typ {
		case "mvhd", "tkhd", "mdhd":
			if box[8] != 0 {
				t.Errorf("%s version %d, want 0", typ, box[8])
			}
			created[typ] = binary.BigEndian.Uint32(box[12:])
		case "prft":
			if v, flags := box[8], binary.BigEndian.Uint32(box[8:])&0xffffff; v != 1 || flags != prftCaptured {
				t.Errorf("prft version %d flags %d, want 1 and %d", v, flags, prftCaptured)
			}
			prfts = append(prfts, prftBox{wall: FromNTP(binary.BigEndian.Uint64(box[16:])), media: binary.BigEndian.Uint64(box[24:])})
		}
	})
	return created, prfts
}
