package mp4

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/google/go-cmp/cmp"

	"github.com/camwire/camwire/internal/benchclip"
	"github.com/camwire/camwire/mp4/mp4test"
	"github.com/camwire/camwire/segment"
	"github.com/camwire/camwire/sink"
	"github.com/camwire/camwire/wire"
)

// searchStarts is the NAL table of buf as a sender's search makes it:
// every start code, found from the NAL unit before it, nil when buf
// does not open with one.
func searchStarts(buf []byte) []uint32 {
	var pos int
	switch {
	case bytes.HasPrefix(buf, []byte{0, 0, 0, 1}):
		pos = 4
	case bytes.HasPrefix(buf, []byte{0, 0, 1}):
		pos = 3
	default:
		return nil
	}
	out := []uint32{uint32(pos)}
	for {
		i := indexStartCode(buf[pos:])
		if i < 0 {
			return out
		}
		pos += i + 3
		out = append(out, uint32(pos))
	}
}

// TestSplitWithTable: with a NAL table that lists every start code, the
// split is splitAnnexB's, on edge cases and random bytes rich in zeros
// and ones; with a table that is wrong anywhere it is counted and the
// payload searched instead, with the same result.
func TestSplitWithTable(t *testing.T) {
	cases := [][]byte{
		{0, 0, 1},
		{0, 0, 0, 1},
		{0, 0, 1, 0x65},
		{0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 2, 0, 0, 0, 1, 0x65, 3},
		{0, 0, 1, 0x65, 0, 0, 0, 0, 1, 0x41},    // trailing zero bytes
		{0, 0, 1, 0, 0, 1, 0, 0, 1},             // empty units
		{0, 0, 1, 0x41, 0, 0},                   // ends in zeros
		{0, 0, 1, 0x41, 0, 1, 0, 0, 2, 0, 0, 1}, // near misses
		{0, 0, 0, 0, 1, 0x41},                   // three zeros: the first is data
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 1000 {
		b := []byte{0, 0, 1}
		for range r.IntN(200) {
			b = append(b, []byte{0, 0, 1, 2, 0x65}[r.IntN(5)])
		}
		cases = append(cases, b)
	}
	tl := NewTimeline(hello(30, 1))
	bad := 0
	for _, c := range cases {
		want, werr := splitAnnexB(nil, c)
		starts := searchStarts(c)
		got, gerr := tl.split(c, wire.AppendNALTable(nil, starts))
		if (werr != nil) != (gerr != nil) || !cmp.Equal(want, got) {
			t.Fatalf("%x with table %v: %x, %v; searching: %x, %v", c, starts, got, gerr, want, werr)
		}
		if tl.BadTables() != bad {
			t.Fatalf("%x: a correct table %v was refused", c, starts)
		}
		// Off by one anywhere, or an entry missing at the front: refused,
		// and the split is the search's.
		for i := range starts {
			for _, d := range []int{-1, 1} {
				wrong := append([]uint32(nil), starts...)
				wrong[i] = uint32(int(wrong[i]) + d)
				got, gerr := tl.split(c, wire.AppendNALTable(nil, wrong))
				bad++
				if tl.BadTables() != bad {
					t.Fatalf("%x: wrong table %v accepted", c, wrong)
				}
				if (werr != nil) != (gerr != nil) || !cmp.Equal(want, got) {
					t.Fatalf("%x with wrong table %v: %x, %v; searching: %x, %v", c, wrong, got, gerr, want, werr)
				}
			}
		}
	}
}

// TestTableSameFile: on the real libx264 clips (B-frames with headers
// repeated; 8 slices with headers once, so the Segmenter puts SPS/PPS
// into later keyframes), cut into segments as the camera cuts them, the
// MP4 files written with the Splitter's NAL tables are byte for byte the
// files written by searching the payloads, whether the writer copies or
// keeps the payloads; tables made wrong on every 7th frame are refused
// and counted, and change nothing; ffprobe decodes every frame.
func TestTableSameFile(t *testing.T) {
	if testing.Short() {
		t.Skip("encodes and probes 1080p clips")
	}
	for _, k := range benchclip.Kinds {
		t.Run(k.Name, func(t *testing.T) {
			data, err := os.ReadFile(benchclip.Path(t, k))
			if err != nil {
				t.Fatal(err)
			}
			if k.Name == benchclip.Slices.Name {
				// libx264 repeats SPS/PPS at every IDR even so; a camera
				// that sends them once makes the Segmenter put them in.
				data = headersOnce(t, data)
			}
			var sp segment.Splitter
			in, err := sp.Write(data, 0)
			if err != nil {
				t.Fatal(err)
			}
			in = append(in, sp.Flush()...)
			// Segments of 4 s, as the recorder cuts them.
			seg := segment.Segmenter{Length: 4 * time.Second}
			segs := map[uint32][]segment.AU{}
			inserted := 0
			for i, au := range in {
				au.Time = clipTime(i)
				n := len(au.Data)
				_, s, out, ok := seg.Push(au)
				if !ok {
					continue
				}
				if len(out.Data) != n {
					inserted++
				}
				segs[s] = append(segs[s], out)
			}
			if k.Name == benchclip.Slices.Name && inserted == 0 {
				t.Fatalf("headers-once clip: no keyframe got SPS/PPS put in; the test misses that case")
			}
			for s := uint32(1); int(s) <= len(segs); s++ {
				aus := segs[s]
				scan := writeSegment(t, aus, "scan", true)
				for _, mode := range []string{"table", "wrong"} {
					for _, stable := range []bool{true, false} {
						if got := writeSegment(t, aus, mode, stable); !bytes.Equal(got, scan) {
							t.Errorf("segment %d, %s tables, stable=%v: %d bytes, differ from the searched file's %d", s, mode, stable, len(got), len(scan))
						}
					}
				}
				path := filepath.Join(t.TempDir(), fmt.Sprintf("seg%d.mp4", s))
				os.WriteFile(path, writeSegment(t, aus, "table", true), 0o644)
				if p := mp4test.Probe(t, path); p.Stderr != "" || p.Frames != len(aus) {
					t.Errorf("segment %d: ffprobe decoded %d frames, stderr %q; want %d frames, silent", s, p.Frames, p.Stderr, len(aus))
				}
			}
		})
	}
}

// clipTime is the capture time of frame i at the clips' rate.
func clipTime(i int) time.Duration { return time.Duration(i) * time.Second / benchclip.FPS }

// headersOnce returns the stream with SPS and PPS left out of every
// access unit but the first.
func headersOnce(t *testing.T, stream []byte) []byte {
	var sp segment.Splitter
	aus, err := sp.Write(stream, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for i, au := range append(aus, sp.Flush()...) {
		nalus, err := splitAnnexB(nil, au.Data)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nalus {
			if typ := h264.NALUType(n[0] & 0x1f); i > 0 && (typ == h264.NALUTypeSPS || typ == h264.NALUTypePPS) {
				continue
			}
			out = append(append(out, 0, 0, 0, 1), n...)
		}
	}
	return out
}

// writeSegment writes aus as one MP4 file and returns its bytes. mode:
// "scan" gives no NAL tables, "table" each AU's, "wrong" each AU's
// but every 7th made wrong (its last entry one byte off), which the
// writer must refuse and count.
func writeSegment(t *testing.T, aus []segment.AU, mode string, stable bool) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "seg.mp4")
	w, err := (&Sink{}).Create(path, sink.SegmentInfo{Hello: hello(benchclip.FPS, 1), Stable: stable})
	if err != nil {
		t.Fatal(err)
	}
	wrong := 0
	for i, au := range aus {
		f := wire.Frame{Seq: uint64(i + 1), TimeUS: au.Time.Microseconds(), Key: au.Key, Payload: au.Data}
		switch {
		case mode == "table":
			f.NALs = wire.AppendNALTable(nil, au.NALs)
		case mode == "wrong" && i%7 == 3:
			starts := append([]uint32(nil), au.NALs...)
			starts[len(starts)-1]++
			f.NALs = wire.AppendNALTable(nil, starts)
			wrong++
		case mode == "wrong":
			f.NALs = wire.AppendNALTable(nil, au.NALs)
		}
		if mode != "scan" && au.NALs == nil {
			t.Fatalf("frame %d has no NAL table", i)
		}
		if err := w.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
		if i%15 == 14 {
			if _, _, err := w.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := w.(*writer).BadTables(); got != wrong {
		t.Errorf("%s: %d tables refused, want %d", mode, got, wrong)
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
