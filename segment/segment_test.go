package segment

import (
	"bytes"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// clipPath is the real H.264 clip scripts/make-testclip.sh made: 120
// frames of 640x360@30, an IDR with SPS/PPS every 30 frames, no B-frames.
const clipPath = "../capture/testclip.h264"

const (
	clipFrames = 120
	clipGOP    = 30
	frameTime  = time.Second / 30
)

func readClip(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile(clipPath)
	if err != nil {
		tb.Fatalf("test clip: %v (make it with scripts/make-testclip.sh)", err)
	}
	return b
}

// splitAll runs data through a fresh Splitter in chunks of the given sizes
// (cycled), stamping chunk k with time k, and flushes.
func splitAll(tb testing.TB, data []byte, chunks ...int) []AU {
	tb.Helper()
	var s Splitter
	var out []AU
	for k, i := 0, 0; i < len(data); k++ {
		n := len(data) - i
		if len(chunks) > 0 {
			n = min(n, chunks[k%len(chunks)])
		}
		aus, err := s.Write(data[i:i+n], time.Duration(k))
		if err != nil {
			tb.Fatalf("Write(chunk %d) = %v", k, err)
		}
		out = append(out, aus...)
		i += n
	}
	return append(out, s.Flush()...)
}

// nal builds one Annex-B NAL unit with a 4-byte start code. For slices,
// newPic sets first_mb_in_slice to 0 (the first bit after the header is 1).
func nal(typ h264.NALUType, newPic bool, payload ...byte) []byte {
	b := []byte{0, 0, 0, 1, 0x60 | byte(typ)}
	if typ == h264.NALUTypeNonIDR || typ == h264.NALUTypeIDR {
		if newPic {
			b = append(b, 0x88)
		} else {
			b = append(b, 0x1a) // first_mb_in_slice = ue "0001101..." > 0
		}
	}
	return append(b, payload...)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// pictures counts the slices that begin a picture in an access unit.
func pictures(tb testing.TB, data []byte) int {
	tb.Helper()
	var a h264.AnnexB
	if err := a.Unmarshal(data); err != nil {
		tb.Fatalf("AnnexB.Unmarshal(AU) = %v", err)
	}
	n := 0
	for _, u := range a {
		if isVCL(naluType(u[0])) && len(u) > 1 && u[1]&0x80 != 0 {
			n++
		}
	}
	return n
}

func TestSplitterClip(t *testing.T) {
	clip := readClip(t)
	whole := splitAll(t, clip)
	if len(whole) != clipFrames {
		t.Fatalf("split clip into %d AUs, want %d", len(whole), clipFrames)
	}
	var joined []byte
	for i, au := range whole {
		joined = append(joined, au.Data...)
		if want := i%clipGOP == 0; au.Key != want {
			t.Errorf("AU %d Key = %v, want %v", i, au.Key, want)
		}
		if got := IsKey(au.Data); got != au.Key {
			t.Errorf("IsKey(AU %d) = %v, Splitter said %v", i, got, au.Key)
		}
		if n := pictures(t, au.Data); n != 1 {
			t.Errorf("AU %d has %d pictures, want 1", i, n)
		}
	}
	if !bytes.Equal(joined, clip) {
		t.Errorf("AUs joined (%d bytes) differ from the clip (%d bytes)", len(joined), len(clip))
	}

	// Any chunking gives the same access units.
	for _, chunks := range [][]int{{1}, {2}, {3}, {5, 1, 4096}, {188}, {65536}} {
		got := splitAll(t, clip, chunks...)
		if len(got) != len(whole) {
			t.Errorf("chunks %v: %d AUs, want %d", chunks, len(got), len(whole))
			continue
		}
		for i := range got {
			if !bytes.Equal(got[i].Data, whole[i].Data) || got[i].Key != whole[i].Key {
				t.Errorf("chunks %v: AU %d differs from the one-chunk split", chunks, i)
				break
			}
		}
	}
}

func TestSplitterBoundaries(t *testing.T) {
	var (
		aud    = nal(h264.NALUTypeAccessUnitDelimiter, false, 0xf0)
		sps    = nal(h264.NALUTypeSPS, false, 0x4d, 0x40, 0x1e)
		pps    = nal(h264.NALUTypePPS, false, 0xee, 0x3c, 0x80)
		sei    = nal(h264.NALUTypeSEI, false, 0x05, 0x01, 0xff)
		idr    = nal(h264.NALUTypeIDR, true, 1, 2, 3)
		idr2   = nal(h264.NALUTypeIDR, false, 4, 5) // second slice of the same picture
		p      = nal(h264.NALUTypeNonIDR, true, 6, 7)
		p2     = nal(h264.NALUTypeNonIDR, false, 8)
		eoseq  = nal(h264.NALUTypeEndOfSequence, false)
		filler = nal(h264.NALUTypeFillerData, false, 0xff, 0xff, 0x80)
		short  = []byte{0, 0, 1, 0x41, 0x9a, 9} // 3-byte start code, P slice
	)
	tests := []struct {
		name    string
		in      []byte
		want    [][]byte
		keys    []bool
		dropped int64
	}{
		{"params and SEI open the AU", cat(sps, pps, sei, idr, p, p),
			[][]byte{cat(sps, pps, sei, idr), p, p}, []bool{true, false, false}, 0},
		{"multi-slice pictures stay whole", cat(sps, pps, idr, idr2, p, p2, p, p2),
			[][]byte{cat(sps, pps, idr, idr2), cat(p, p2), cat(p, p2)}, []bool{true, false, false}, 0},
		{"delimiters", cat(aud, sps, pps, idr, aud, p, aud, p),
			[][]byte{cat(aud, sps, pps, idr), cat(aud, p), cat(aud, p)}, []bool{true, false, false}, 0},
		{"end of sequence and filler stay behind", cat(idr, filler, eoseq, idr, p),
			[][]byte{cat(idr, filler, eoseq), idr, p}, []bool{true, true, false}, 0},
		{"3-byte start codes", cat(idr, short, short),
			[][]byte{idr, short, short}, []bool{true, false, false}, 0},
		{"garbage before the first start code is dropped", cat([]byte{7, 7, 7, 0, 1}, idr, p),
			[][]byte{idr, p}, []bool{true, false}, 5},
		{"trailing zeros stay with their NAL unit", cat(idr, []byte{0, 0}, p),
			[][]byte{cat(idr, []byte{0, 0}), p}, []bool{true, false}, 0},
		{"parameter sets at the end flush as their own AU", cat(idr, sps, pps),
			[][]byte{idr, cat(sps, pps)}, []bool{true, false}, 0},
		{"no start code at all", []byte{1, 2, 3, 4, 5},
			nil, nil, 5},
	}
	for _, tt := range tests {
		for _, chunk := range []int{0, 1, 2, 3} {
			var got []AU
			if chunk == 0 {
				got = splitAll(t, tt.in)
			} else {
				got = splitAll(t, tt.in, chunk)
			}
			if len(got) != len(tt.want) {
				t.Errorf("%s (chunk %d): %d AUs, want %d", tt.name, chunk, len(got), len(tt.want))
				continue
			}
			for i := range got {
				if !bytes.Equal(got[i].Data, tt.want[i]) {
					t.Errorf("%s (chunk %d): AU %d = % x, want % x", tt.name, chunk, i, got[i].Data, tt.want[i])
				}
				if got[i].Key != tt.keys[i] {
					t.Errorf("%s (chunk %d): AU %d Key = %v, want %v", tt.name, chunk, i, got[i].Key, tt.keys[i])
				}
			}
		}
		var s Splitter
		if _, err := s.Write(tt.in, 0); err != nil {
			t.Fatal(err)
		}
		s.Flush()
		if s.Dropped() != tt.dropped {
			t.Errorf("%s: Dropped() = %d, want %d", tt.name, s.Dropped(), tt.dropped)
		}
	}
}

func TestSplitterTime(t *testing.T) {
	idr := nal(h264.NALUTypeIDR, true, 1, 2, 3)
	p := nal(h264.NALUTypeNonIDR, true, 4)
	var s Splitter
	var got []AU
	for i, chunk := range [][]byte{idr, p[:3], p[3:], p} { // p's start code is completed by chunk 2
		aus, err := s.Write(chunk, time.Duration(i+1)*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, aus...)
	}
	got = append(got, s.Flush()...)
	want := []time.Duration{1 * time.Millisecond, 3 * time.Millisecond, 4 * time.Millisecond}
	if len(got) != len(want) {
		t.Fatalf("%d AUs, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Time != want[i] {
			t.Errorf("AU %d Time = %v, want %v (arrival of the chunk completing its start code)", i, got[i].Time, want[i])
		}
	}
}

func TestSplitterTooBig(t *testing.T) {
	s := Splitter{MaxAU: 100}
	idr := nal(h264.NALUTypeIDR, true, 1)
	big := nal(h264.NALUTypeNonIDR, true, bytes.Repeat([]byte{0xaa}, 200)...)
	aus, err := s.Write(cat(idr, big), 0)
	if err == nil {
		t.Fatalf("Write(206-byte AU, MaxAU 100) = nil error, want ErrAUTooBig")
	}
	if !bytes.Contains([]byte(err.Error()), []byte("206 bytes")) || !bytes.Contains([]byte(err.Error()), []byte("limit 100")) {
		t.Errorf("error %q should name the size (206 bytes) and the limit (100)", err)
	}
	if len(aus) != 1 || !bytes.Equal(aus[0].Data, idr) {
		t.Errorf("Write returned %d AUs, want the one completed before the error", len(aus))
	}
	if s.Dropped() != int64(len(big)) {
		t.Errorf("Dropped() = %d, want %d", s.Dropped(), len(big))
	}
	// It recovers at the next start code.
	p := nal(h264.NALUTypeNonIDR, true, 2)
	aus, err = s.Write(cat(p, p), 1)
	if err != nil {
		t.Fatalf("Write after overflow = %v", err)
	}
	if len(aus) != 1 || !bytes.Equal(aus[0].Data, p) {
		t.Errorf("after overflow: got %d AUs, want 1 equal to the P frame", len(aus))
	}
}

// scanStarts is the NAL table of data found by searching it: what an
// AU's NALs must be.
func scanStarts(data []byte) []uint32 {
	var out []uint32
	for _, n := range nalus(data) {
		out = append(out, uint32(n.start))
	}
	return out
}

// checkNALs fails unless au's NAL table is what a search of its bytes
// finds, and lists its NAL units as that search does.
func checkNALs(t testing.TB, au AU) {
	t.Helper()
	want := scanStarts(au.Data)
	if !slices.Equal(au.NALs, want) || au.NALs == nil {
		t.Fatalf("AU % x: NALs = %v, a search finds %v", au.Data[:min(16, len(au.Data))], au.NALs, want)
	}
	if got, want := appendNALUsAt(nil, au.Data, au.NALs), nalus(au.Data); !slices.Equal(got, want) {
		t.Fatalf("AU % x: NAL units from the table %v, from a search %v", au.Data[:min(16, len(au.Data))], got, want)
	}
}

// FuzzSplitter checks, for any input and chunk size, that nothing is
// invented or lost: the AUs joined are exactly the input minus the bytes
// counted as dropped, each AU starts with a start code, and memory stays
// bounded (no AU over MaxAU).
func FuzzSplitter(f *testing.F) {
	clip, err := os.ReadFile(clipPath)
	if err == nil {
		f.Add(clip[:4096], uint16(100))
	}
	f.Add(cat(nal(h264.NALUTypeSPS, false, 1), nal(h264.NALUTypeIDR, true, 1), nal(h264.NALUTypeNonIDR, true, 2)), uint16(1))
	f.Add([]byte{0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0x65}, uint16(2))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint16) {
		const maxAU = 1024
		s := Splitter{MaxAU: maxAU}
		n := max(int(chunk)%2048, 1)
		var joined []byte
		var lost int64
		check := func(aus []AU) {
			for _, au := range aus {
				if len(au.Data) > maxAU {
					t.Fatalf("AU of %d bytes, MaxAU %d", len(au.Data), maxAU)
				}
				if !bytes.HasPrefix(au.Data, startCode3) && !bytes.HasPrefix(au.Data, startCode4) {
					t.Fatalf("AU % x does not start with a start code", au.Data[:min(8, len(au.Data))])
				}
				checkNALs(t, au)
				joined = append(joined, au.Data...)
			}
		}
		for i := 0; i < len(in); i += n {
			before := s.Dropped()
			aus, err := s.Write(in[i:min(i+n, len(in))], 0)
			check(aus)
			if err != nil {
				lost += s.Dropped() - before
			}
		}
		check(s.Flush())
		if int64(len(joined))+s.Dropped() != int64(len(in)) {
			t.Fatalf("AUs hold %d bytes + %d dropped, input %d", len(joined), s.Dropped(), len(in))
		}
		if lost == 0 && !bytes.HasSuffix(in, joined) {
			t.Fatalf("AUs joined are not the input after its first start code")
		}

		// Read straight into small blocks, releasing every other AU at
		// once (its block may be read into again): the same bytes come
		// out, and the AUs held stay intact.
		r := Splitter{MaxAU: maxAU}
		r.pool.size = 512
		var held []AU
		var copies [][]byte
		var tables [][]uint32
		readInto(t, &r, &chunkReader{b: in, n: n}, func(au AU) bool {
			checkNALs(t, au)
			copies = append(copies, bytes.Clone(au.Data))
			tables = append(tables, slices.Clone(au.NALs))
			if len(copies)%2 == 0 {
				return false
			}
			held = append(held, au)
			return true
		})
		if got := bytes.Join(copies, nil); !bytes.Equal(got, joined) || r.Dropped() != s.Dropped() {
			t.Fatalf("reading into blocks: %d bytes out, %d dropped; Write path %d, %d", len(got), r.Dropped(), len(joined), s.Dropped())
		}
		for i, au := range held {
			if !bytes.Equal(au.Data, copies[2*i]) || !slices.Equal(au.NALs, tables[2*i]) {
				t.Fatalf("AU %d (or its NAL table) changed while held", 2*i)
			}
			au.Release()
		}
	})
}

func BenchmarkSplitter(b *testing.B) {
	clip := readClip(b)
	b.SetBytes(int64(len(clip)))
	var s Splitter
	for b.Loop() {
		for i := 0; i < len(clip); i += 65536 {
			if _, err := s.Write(clip[i:min(i+65536, len(clip))], 0); err != nil {
				b.Fatal(err)
			}
		}
		s.Flush()
	}
	// A copy of the same bytes is the floor any splitter pays once.
	buf := make([]byte, len(clip))
	start := time.Now()
	const copies = 200
	for range copies {
		copy(buf, clip)
	}
	copyRate := float64(len(clip)*copies) / time.Since(start).Seconds()
	rate := float64(len(clip)) * float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate/copyRate, "x-memcpy")
	b.ReportMetric(rate/2e6, "x-camera-rate") // the camera sends ~2 MB/s
}
