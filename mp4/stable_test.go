package mp4

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/google/go-cmp/cmp"

	"github.com/camwire/camwire/mp4/mp4test"
	"github.com/camwire/camwire/sink"
	"github.com/camwire/camwire/wire"
)

// TestSplitAnnexBAsMediacommon: splitAnnexB finds the NAL units
// mediacommon's h264.AnnexB.Unmarshal finds (the split the sink used
// before), on edge cases and on random bytes rich in zeros and ones.
func TestSplitAnnexBAsMediacommon(t *testing.T) {
	cases := [][]byte{
		{0, 0, 1},
		{0, 0, 0, 1},
		{0, 0, 1, 0x65},
		{0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 2, 0, 0, 0, 1, 0x65, 3},
		{0, 0, 1, 0x65, 0, 0, 0, 0, 1, 0x41},    // trailing zero bytes
		{0, 0, 1, 0, 0, 1, 0, 0, 1},             // empty units
		{0, 0, 1, 0x41, 0, 0},                   // ends in zeros
		{0, 0, 1, 0x41, 0, 1, 0, 0, 2, 0, 0, 1}, // near misses
		{1, 2, 3},
		{0, 1},
		nil,
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		b := []byte{0, 0, 1}
		for range r.IntN(200) {
			b = append(b, []byte{0, 0, 1, 2, 0x65}[r.IntN(5)])
		}
		cases = append(cases, b)
	}
	for _, c := range cases {
		var want h264.AnnexB
		werr := want.Unmarshal(c)
		got, gerr := splitAnnexB(nil, c)
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("%x: splitAnnexB error %v, mediacommon's %v", c, gerr, werr)
		}
		if werr == nil && !cmp.Equal([][]byte(want), got) {
			t.Fatalf("%x: splitAnnexB = %x, mediacommon's %x", c, got, [][]byte(want))
		}
	}
}

// TestStableSameFile: a writer told that payloads are stable (it then
// writes NAL units from the caller's buffers in gathered writes) makes
// the very file a writer that copies them makes, on real video with
// B-frames, undecodable frames, a fragment cut by MaxFragment between
// syncs, capture times (prft), and a Reopen.
func TestStableSameFile(t *testing.T) {
	aus := mp4test.SplitAUs(t, mp4test.EncodeClip(t, "320x240", 4, "-bf", "2", "-g", "30"))
	frames := slices.Concat(aus[3:5], [][]byte{[]byte("garbage")}, aus[:50], [][]byte{[]byte("more garbage")}, aus[50:])
	wall := func(us int64) (time.Time, bool) { return time.Unix(1e9, us*1000), true }
	write := func(stable bool) []byte {
		path := filepath.Join(t.TempDir(), "seg.mp4")
		s := &Sink{MaxFragment: TimeScale / 3}
		info := sink.SegmentInfo{Hello: hello(30, 1), Start: time.Unix(1e9, 0), Wall: wall, Stable: stable}
		w, err := s.Create(path, info)
		if err != nil {
			t.Fatal(err)
		}
		for i, au := range frames {
			if err := w.WriteFrame(wire.Frame{Seq: uint64(i + 1), TimeUS: int64(i) * 1e6 / 30, Key: isKey(au), Payload: au}); err != nil {
				t.Fatal(err)
			}
			if i%23 == 22 {
				size, state, err := w.Sync()
				if err != nil {
					t.Fatal(err)
				}
				if i == 45 {
					w.Close()
					if w, err = s.Reopen(path, info, size, state); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		if err := w.Finish(); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	copied, stable := write(false), write(true)
	if !bytes.Equal(copied, stable) {
		t.Errorf("stable payloads: %d-byte file, differs from the copying writer's %d bytes", len(stable), len(copied))
	}
	path := filepath.Join(t.TempDir(), "stable.mp4")
	os.WriteFile(path, stable, 0o644)
	if p := mp4test.Probe(t, path); p.Stderr != "" || p.Frames != len(aus) {
		t.Errorf("ffprobe: %d frames, stderr %q; want %d frames, silent", p.Frames, p.Stderr, len(aus))
	}
}

// TestStablePayloadOwnership: without Stable the writer copies a payload
// during WriteFrame (the caller may reuse it at once); with Stable it
// writes from the caller's buffer when the fragment is written, so bytes
// changed before Sync land in the file: the writer made no copy.
func TestStablePayloadOwnership(t *testing.T) {
	aus := mp4test.SplitAUs(t, mp4test.EncodeClip(t, "320x240", 1, "-bf", "0"))
	for _, stable := range []bool{false, true} {
		path := filepath.Join(t.TempDir(), "seg.mp4")
		w, err := (&Sink{}).Create(path, sink.SegmentInfo{Hello: hello(30, 1), Stable: stable})
		if err != nil {
			t.Fatal(err)
		}
		buf := slices.Clone(aus[0])
		tail := buf[len(buf)-8:]
		before := slices.Clone(tail)
		if err := w.WriteFrame(wire.Frame{Seq: 1, Key: true, Payload: buf}); err != nil {
			t.Fatal(err)
		}
		copy(tail, "CHANGED!")
		if _, _, err := w.Sync(); err != nil {
			t.Fatal(err)
		}
		w.Close()
		data, _ := os.ReadFile(path)
		want := before
		if stable {
			want = []byte("CHANGED!")
		}
		if !bytes.HasSuffix(data, want) {
			t.Errorf("stable=%v: file ends %q, want %q", stable, data[len(data)-8:], want)
		}
	}
}
