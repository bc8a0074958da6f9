package segment

import (
	"bytes"
	"io"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/camwire/camwire/internal/benchclip"
)

// readInto splits r the way capture.Exec does, reading straight into the
// Splitter's blocks, and hands every AU to keep, which decides whether to
// hold it (and its Block reference) or release it at once. AUs dropped
// for size only show in Dropped.
func readInto(tb testing.TB, s *Splitter, r io.Reader, keep func(AU) bool) {
	tb.Helper()
	for k := 0; ; k++ {
		n, err := r.Read(s.Buffer(0))
		if n > 0 {
			// ErrAUTooBig shows in Dropped; nothing else can fail.
			aus, _ := s.Written(n, time.Duration(k))
			for _, au := range aus {
				if !keep(au) {
					au.Release()
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	for _, au := range s.Flush() {
		if !keep(au) {
			au.Release()
		}
	}
}

// chunkReader returns at most n bytes per Read, like a pipe.
type chunkReader struct {
	b []byte
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	k := copy(p, c.b[:min(c.n, len(c.b))])
	c.b = c.b[k:]
	return k, nil
}

// realClips are the repo's test clip and the benchmarks' libx264 clips
// (B-frames; 8 slices per picture), made once by ffmpeg and cached.
func realClips(t *testing.T) map[string][]byte {
	clips := map[string][]byte{"testclip": readClip(t)}
	if testing.Short() {
		return clips
	}
	for _, k := range benchclip.Kinds {
		b, err := os.ReadFile(benchclip.Path(t, k))
		if err != nil {
			t.Fatal(err)
		}
		clips[k.Name] = b
	}
	return clips
}

// TestSplitterReadEqualsWrite: reading straight into the blocks gives, byte
// for byte, the access units of the copying Write path (and of one Write
// of the whole clip), however the reads fall; and an AU's bytes stay
// intact while the Splitter reads on and reuses the blocks of the AUs
// released meanwhile.
func TestSplitterReadEqualsWrite(t *testing.T) {
	for name, clip := range realClips(t) {
		want := splitAll(t, clip)
		joined := 0
		for _, au := range want {
			joined += len(au.Data)
			checkNALs(t, au)
		}
		if joined != len(clip) {
			t.Fatalf("%s: AUs hold %d bytes, clip %d", name, joined, len(clip))
		}
		if copied := splitAll(t, clip, 65536); !sameAUs(copied, want) {
			t.Errorf("%s: Write in 64 KiB chunks differs from one Write", name)
		}
		biggest := 0
		for _, au := range want {
			biggest = max(biggest, len(au.Data))
		}
		for _, tt := range []struct {
			read, block int
		}{{65536, 0}, {4096, 0}, {1 << 20, 0}, {4093, 16 << 10}, {65536, 64 << 10}} {
			s := Splitter{}
			s.pool.size = tt.block
			var got, window []AU
			blocks := map[*Block]bool{}
			// Hold the newest AUs, as the sender does until they are
			// acknowledged, and check each one's bytes when it goes.
			check := func(au AU) {
				i := len(got)
				if !bytes.Equal(au.Data, want[i].Data) || !slices.Equal(au.NALs, want[i].NALs) {
					t.Fatalf("%s: reads of %d into %d-byte blocks: AU %d (or its NAL table) changed while held", name, tt.read, tt.block, i)
				}
				got = append(got, AU{Data: bytes.Clone(au.Data), Time: au.Time, Key: au.Key})
			}
			readInto(t, &s, &chunkReader{b: clip, n: tt.read}, func(au AU) bool {
				blocks[au.Block] = true
				window = append(window, au)
				if len(window) > 10 {
					check(window[0])
					window[0].Release()
					window = window[1:]
				}
				return true
			})
			for _, au := range window {
				check(au)
				au.Release()
			}
			if !sameAUs(got, want) {
				t.Errorf("%s: reads of %d into %d-byte blocks: AUs differ from the Write path", name, tt.read, tt.block)
			}
			size := s.pool.blockSize()
			// Without reuse every block would be a fresh one. (An AU near
			// the block size gets a block of its own: not counted.)
			if fresh := len(clip) / size; size > 2*biggest && fresh >= 8 && len(blocks) > fresh/2 {
				t.Errorf("%s: %d blocks of %d bytes for %d bytes: released blocks were not reused", name, len(blocks), size, len(clip))
			}
		}
	}
}

func sameAUs(a, b []AU) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].Data, b[i].Data) || a[i].Key != b[i].Key {
			return false
		}
	}
	return true
}

// TestSplitterBlockRefs: the Splitter holds the block it reads into, each
// AU one more; Flush lets go of the Splitter's, and the last Release
// returns the block for reuse; a release too many panics.
func TestSplitterBlockRefs(t *testing.T) {
	p1 := nal(5, true, 1, 2, 3)
	p2 := nal(1, true, 4, 5)
	s := Splitter{}
	in := cat(p1, p2, p2)
	aus, err := s.Write(in, 0)
	if err != nil || len(aus) != 2 {
		t.Fatalf("Write = %d AUs, %v; want 2", len(aus), err)
	}
	b := aus[0].Block
	if b == nil || aus[1].Block != b {
		t.Fatalf("AUs not in one block: %p %p", aus[0].Block, aus[1].Block)
	}
	if got := b.Refs(); got != 3 {
		t.Errorf("Refs = %d, want 3 (Splitter and two AUs)", got)
	}
	// An append to an AU must not run into the next one.
	_ = append(aus[0].Data, 0xee)
	if !bytes.Equal(aus[1].Data, p2) {
		t.Errorf("append to AU 0 overwrote AU 1: % x", aus[1].Data)
	}
	last := s.Flush()
	if len(last) != 1 || last[0].Block != b || b.Refs() != 3 {
		t.Fatalf("Flush = %d AUs, Refs %d; want 1 AU in the block, Refs 3 (Splitter's gone)", len(last), b.Refs())
	}
	for _, au := range append(aus, last...) {
		au.Release()
	}
	if len(s.pool.free) != 1 || s.pool.free[0] != b {
		t.Errorf("released block not back in the pool: %v", s.pool.free)
	}
	defer func() {
		if recover() == nil {
			t.Errorf("a release too many did not panic")
		}
	}()
	b.Release()
}

// TestSplitterReadAllocs: a steady stream whose AUs are released reads
// into the same blocks and allocates nothing per access unit.
func TestSplitterReadAllocs(t *testing.T) {
	clip := readClip(t)
	s := Splitter{}
	s.pool.size = 64 << 10 // several blocks per pass over the 200 KB clip
	r := &chunkReader{}
	pass := func() {
		r.b, r.n = clip, 65536
		readInto(t, &s, r, func(AU) bool { return false })
	}
	pass()
	if allocs := testing.AllocsPerRun(20, pass); allocs > 2 {
		// Flush's returned slice is the caller's: one allocation per pass.
		t.Errorf("a pass over %d AUs allocates %v times, want at most 2", clipFrames, allocs)
	}
}

// TestSegmenterReleases: the Segmenter takes over the AUs pushed. Those it
// drops (before the first keyframe) and the keyframe it replaces by a copy
// with SPS/PPS put in front give up their Block reference; the AUs it
// passes on keep theirs, for the caller. It allocates nothing for a
// camera that repeats its SPS/PPS.
func TestSegmenterReleases(t *testing.T) {
	const (
		idr = 5
		non = 1
		sps = 7
		pps = 8
	)
	headers := cat(nal(sps, false, 0x4d, 1), nal(pps, false, 0xee))
	var s Splitter
	// P (dropped), K with headers, P, K without headers in a new segment
	// (gets a copy with them), P.
	in := cat(nal(non, true, 1), headers, nal(idr, true, 2), nal(non, true, 3),
		nal(idr, true, 4), nal(non, true, 5))
	aus, err := s.Write(in, 0)
	aus = append(aus, s.Flush()...)
	if err != nil || len(aus) != 5 {
		t.Fatalf("split: %d AUs, %v; want 5", len(aus), err)
	}
	b := aus[0].Block
	if got := b.Refs(); got != 5 {
		t.Fatalf("block Refs = %d, want 5", got)
	}
	seg := Segmenter{Length: time.Second}
	var out []AU
	for i, au := range aus {
		au.Time = time.Duration(i) * time.Second
		if _, _, o, ok := seg.Push(au); ok {
			out = append(out, o)
		}
	}
	if len(out) != 4 || seg.Dropped() != 1 {
		t.Fatalf("Push passed %d AUs, dropped %d; want 4 and 1", len(out), seg.Dropped())
	}
	if out[2].Block != nil || !bytes.HasPrefix(out[2].Data, headers) {
		t.Errorf("second keyframe: Block %p, data % x; want a copy of its own with SPS/PPS first", out[2].Block, out[2].Data)
	}
	for i, o := range out {
		if i != 2 && o.Block != b {
			t.Errorf("AU %d passed on without its block", i)
		}
	}
	if got := b.Refs(); got != 3 {
		t.Errorf("block Refs = %d after Push, want 3 (the dropped P and the copied keyframe released theirs)", got)
	}

	key := cat(headers, nal(idr, true, 9))
	allocs := testing.AllocsPerRun(100, func() {
		seg.Push(AU{Data: key, Key: true, Time: time.Duration(len(out)) * time.Second})
	})
	if allocs != 0 {
		t.Errorf("Push of a keyframe with the known SPS/PPS allocates %v times, want 0", allocs)
	}
}
