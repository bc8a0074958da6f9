package segment

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/camwire/camwire/internal/ffprobe"
)

// frameSpec describes a synthetic access unit: 'K' keyframe with SPS/PPS,
// 'k' keyframe without them, 'S' keyframe with a different SPS, 'P' a
// P frame.
func synth(spec string, step time.Duration) []AU {
	var out []AU
	for i, c := range spec {
		var data []byte
		switch c {
		case 'K':
			data = cat(nal(h264.NALUTypeSPS, false, 0x4d, 1), nal(h264.NALUTypePPS, false, 0xee), nal(h264.NALUTypeIDR, true, byte(i)))
		case 'S':
			data = cat(nal(h264.NALUTypeSPS, false, 0x4d, 2), nal(h264.NALUTypePPS, false, 0xee), nal(h264.NALUTypeIDR, true, byte(i)))
		case 'k':
			data = nal(h264.NALUTypeIDR, true, byte(i))
		case 'P':
			data = nal(h264.NALUTypeNonIDR, true, byte(i))
		default:
			panic("bad spec " + string(c))
		}
		out = append(out, AU{Data: data, Time: time.Duration(i) * step, Key: c != 'P'})
	}
	return out
}

// pushed is what a Segmenter made of a run of access units.
type pushed struct {
	frames  []AU     // every AU that came out, in order
	segs    []uint32 // segment of each
	ends    []End    // segment ends, in order, Close's last
	dropped int
}

// run pushes aus and closes, checking on the way the promises every caller
// relies on: an End comes exactly before the first frame of the next
// segment and counts that segment's frames; numbers go up by one; each
// segment opens with a keyframe; times and order are kept.
func run(t *testing.T, s *Segmenter, aus []AU) pushed {
	t.Helper()
	var p pushed
	var cur uint32
	var n uint32
	for i, au := range aus {
		ended, seg, out, ok := s.Push(au)
		if ended != nil {
			if *ended != (End{cur, n}) {
				t.Fatalf("AU %d: ended = %+v, want {%d %d}", i, *ended, cur, n)
			}
			p.ends = append(p.ends, *ended)
		}
		if !ok {
			p.dropped++
			continue
		}
		if seg != cur {
			if ended == nil && cur != 0 {
				t.Fatalf("AU %d: segment %d began without segment %d ending", i, seg, cur)
			}
			if cur != 0 && seg != cur+1 {
				t.Fatalf("AU %d: segment %d follows %d", i, seg, cur)
			}
			if !out.Key {
				t.Fatalf("AU %d: segment %d opens with a non-keyframe", i, seg)
			}
			cur, n = seg, 0
		}
		if out.Time != au.Time || out.Key != au.Key {
			t.Fatalf("AU %d: out time/key = %v/%v, want %v/%v", i, out.Time, out.Key, au.Time, au.Key)
		}
		n++
		p.frames = append(p.frames, out)
		p.segs = append(p.segs, seg)
	}
	if e := s.Close(); e != nil {
		if *e != (End{cur, n}) {
			t.Fatalf("Close() = %+v, want {%d %d}", *e, cur, n)
		}
		p.ends = append(p.ends, *e)
	}
	if s.Dropped() != p.dropped {
		t.Errorf("Dropped() = %d, want %d", s.Dropped(), p.dropped)
	}
	return p
}

func frameCounts(ends []End) []uint32 {
	var out []uint32
	for _, e := range ends {
		out = append(out, e.Frames)
	}
	return out
}

func TestSegmenterCuts(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name    string
		length  time.Duration
		spec    string
		step    time.Duration
		counts  []uint32 // frames per segment
		dropped int
	}{
		{"cut at the first keyframe at or after Length", 400 * ms, "KPPkPPkPPkPPkPP", 100 * ms, []uint32{6, 6, 3}, 0},
		{"a keyframe exactly at Length cuts", 300 * ms, "KPPkPPkPP", 100 * ms, []uint32{3, 3, 3}, 0},
		{"half a frame early is on time", 300 * ms, "KPPkPPkPP", 99 * ms, []uint32{3, 3, 3}, 0},
		{"more than half a frame early is not", 360 * ms, "KPPkPPkPP", 100 * ms, []uint32{6, 3}, 0},
		{"slack is at most 0.5 s", 6800 * ms, "KPPkPPkPP", 2 * time.Second, []uint32{6, 3}, 0},
		{"cut only at keyframes", 100 * ms, "KPPPPkPPPPkPP", 100 * ms, []uint32{5, 5, 3}, 0},
		{"late keyframe extends the segment", 300 * ms, "KPPPPPkPP", 100 * ms, []uint32{6, 3}, 0},
		{"frames before the first keyframe are dropped", 1000 * ms, "PPPKPPkPP", 100 * ms, []uint32{6}, 3},
		{"Length 0 never cuts by time", 0, "KPPkPPkPP", 100 * ms, []uint32{9}, 0},
		{"a new SPS cuts early", 10 * time.Second, "KPPSPPKPP", 100 * ms, []uint32{3, 3, 3}, 0},
		{"the same SPS again does not cut", 10 * time.Second, "KPPKPPKPP", 100 * ms, []uint32{9}, 0},
		{"keyframe every frame", 200 * ms, "KkkkkkkK", 100 * ms, []uint32{2, 2, 2, 2}, 0},
		{"nothing but P frames", 100 * ms, "PPPP", 100 * ms, nil, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Segmenter{Length: tt.length}
			in := synth(tt.spec, tt.step)
			p := run(t, &s, in)
			if got := frameCounts(p.ends); fmt.Sprint(got) != fmt.Sprint(tt.counts) {
				t.Errorf("frames per segment = %v, want %v", got, tt.counts)
			}
			if p.dropped != tt.dropped {
				t.Errorf("dropped %d, want %d", p.dropped, tt.dropped)
			}
			// Gapless: everything after the dropped prefix comes out, in order.
			if len(p.frames) != len(in)-tt.dropped {
				t.Fatalf("%d frames out, want %d", len(p.frames), len(in)-tt.dropped)
			}
			for i, f := range p.frames {
				if f.Time != in[tt.dropped+i].Time {
					t.Fatalf("frame %d out has time %v, want %v", i, f.Time, in[tt.dropped+i].Time)
				}
			}
		})
	}
}

func TestSegmenterNumbers(t *testing.T) {
	s := Segmenter{Length: time.Second, First: 41}
	p := run(t, &s, synth("KPk", time.Second))
	if want := []End{{41, 2}, {42, 1}}; fmt.Sprint(p.ends) != fmt.Sprint(want) {
		t.Errorf("ends = %v, want %v", p.ends, want)
	}
	// After Close the next keyframe opens the next number; P frames before it are dropped.
	p = run(t, &s, synth("PK", time.Second))
	if want := []End{{43, 1}}; fmt.Sprint(p.ends) != fmt.Sprint(want) {
		t.Errorf("after Close: ends = %v, want %v", p.ends, want)
	}
	if s.Close() != nil {
		t.Errorf("second Close() != nil")
	}
}

// naluTypes lists the NAL unit types in an Annex-B buffer.
func naluTypes(data []byte) []h264.NALUType {
	var out []h264.NALUType
	for _, n := range nalus(data) {
		out = append(out, naluType(data[n.start]))
	}
	return out
}

func TestSegmenterParamSets(t *testing.T) {
	const (
		aud = h264.NALUTypeAccessUnitDelimiter
		sps = h264.NALUTypeSPS
		pps = h264.NALUTypePPS
		sei = h264.NALUTypeSEI
		idr = h264.NALUTypeIDR
	)
	first := cat(nal(sps, false, 0x4d, 1), nal(pps, false, 0xee), nal(idr, true, 1))
	tests := []struct {
		name  string
		known []byte // keyframe pushed first, to learn SPS/PPS from (nil: none)
		key   []byte // keyframe that opens the next segment
		want  []h264.NALUType
	}{
		{"both inserted", first, nal(idr, true, 2), []h264.NALUType{sps, pps, idr}},
		{"after a delimiter", first, cat(nal(aud, false, 0x10), nal(sei, false, 5), nal(idr, true, 2)),
			[]h264.NALUType{aud, sps, pps, sei, idr}},
		{"PPS after the AU's own SPS", first, cat(nal(sei, false, 5), nal(sps, false, 0x4d, 1), nal(idr, true, 2)),
			[]h264.NALUType{sei, sps, pps, idr}},
		{"nothing missing", first, first, []h264.NALUType{sps, pps, idr}},
		{"nothing known", nil, nal(idr, true, 2), []h264.NALUType{idr}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Segmenter{Length: time.Second}
			if tt.known != nil {
				s.Push(AU{Data: tt.known, Key: true})
			}
			orig := bytes.Clone(tt.key)
			_, _, out, ok := s.Push(AU{Data: tt.key, Time: 2 * time.Second, Key: true})
			if !ok {
				t.Fatalf("Push(keyframe) dropped it")
			}
			if out.NALs != nil {
				t.Errorf("an AU without a NAL table came out with one: %v", out.NALs)
			}
			// With the Splitter's NAL table the same bytes come out, with
			// the table of what came out.
			st := Segmenter{Length: time.Second}
			if tt.known != nil {
				st.Push(AU{Data: tt.known, NALs: scanStarts(tt.known), Key: true})
			}
			_, _, outT, _ := st.Push(AU{Data: tt.key, NALs: scanStarts(tt.key), Time: 2 * time.Second, Key: true})
			if !bytes.Equal(outT.Data, out.Data) {
				t.Errorf("with a NAL table: % x, without % x", outT.Data, out.Data)
			}
			checkNALs(t, outT)
			if got := naluTypes(out.Data); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("NAL units = %v, want %v", got, tt.want)
			}
			if !bytes.Equal(tt.key, orig) {
				t.Errorf("Push changed the caller's AU data")
			}
			// The inserted units are the remembered ones, byte for byte.
			if tt.known != nil && !bytes.Contains(out.Data, nal(sps, false, 0x4d, 1)) {
				t.Errorf("out % x lacks the remembered SPS", out.Data)
			}
		})
	}
}

// stripParams removes SPS and PPS from an access unit, as a camera that
// sends them only once would leave every later keyframe.
func stripParams(data []byte) []byte {
	var out []byte
	for _, n := range nalus(data) {
		if typ := naluType(data[n.start]); typ != h264.NALUTypeSPS && typ != h264.NALUTypePPS {
			out = append(out, data[n.begin:n.end]...)
		}
	}
	return out
}

// TestSegmentsDecode cuts the real clip, looped and with SPS/PPS only in
// its very first frame, into 1-second segments, and has ffprobe decode
// each segment file on its own: every frame of every segment must decode.
func TestSegmentsDecode(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe not installed (package ffmpeg): cannot check that segments decode")
	}
	clip := splitAll(t, readClip(t))
	const loops = 2
	var in []AU
	for l := range loops {
		for i, au := range clip {
			n := l*len(clip) + i
			if n > 0 {
				au.Data = stripParams(au.Data)
			}
			in = append(in, AU{Data: au.Data, Time: time.Duration(n) * frameTime, Key: au.Key})
		}
	}
	s := Segmenter{Length: time.Second}
	p := run(t, &s, in)
	if want := loops * clipFrames / clipGOP; len(p.ends) != want {
		t.Fatalf("%d segments, want %d", len(p.ends), want)
	}
	dir := t.TempDir()
	files := map[uint32]*bytes.Buffer{}
	for i, f := range p.frames {
		if files[p.segs[i]] == nil {
			files[p.segs[i]] = new(bytes.Buffer)
		}
		files[p.segs[i]].Write(f.Data)
	}
	for _, e := range p.ends {
		name := filepath.Join(dir, fmt.Sprintf("%d.h264", e.Segment))
		if err := os.WriteFile(name, files[e.Segment].Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := ffprobe.Frames(name)
		if err != nil {
			t.Fatalf("segment %d: %v", e.Segment, err)
		}
		if got != int(e.Frames) {
			t.Errorf("ffprobe decoded %d frames of segment %d, want %d", got, e.Segment, e.Frames)
		}
	}
}

// FuzzSegmenter pushes arbitrary runs of keyframes, P frames, SPS changes
// and time steps (one byte per frame) and lets run check the promises:
// ends just before the next segment's first frame with the right count,
// numbers consecutive, segments open on keyframes, nothing reordered; and
// here: nothing after the first keyframe lost, every segment with SPS/PPS.
func FuzzSegmenter(f *testing.F) {
	f.Add(uint8(10), []byte{0x03, 0x02, 0x02, 0x03, 0x02, 0x83, 0x02})
	f.Add(uint8(0), []byte{0x02, 0x01, 0x03, 0xff, 0x00})
	f.Fuzz(func(t *testing.T, length uint8, frames []byte) {
		var in []AU
		var at time.Duration
		for i, b := range frames {
			at += time.Duration(b>>2) * 10 * time.Millisecond // bits 2-7: time step
			var data []byte
			switch b & 3 { // bits 0-1: kind
			case 0, 2:
				data = nal(h264.NALUTypeNonIDR, true, byte(i))
			case 1:
				data = nal(h264.NALUTypeIDR, true, byte(i))
			case 3:
				data = cat(nal(h264.NALUTypeSPS, false, 0x4d, b>>7), nal(h264.NALUTypePPS, false, 0xee), nal(h264.NALUTypeIDR, true, byte(i)))
			}
			in = append(in, AU{Data: data, NALs: scanStarts(data), Time: at, Key: b&1 == 1})
		}
		s := Segmenter{Length: time.Duration(length) * 10 * time.Millisecond}
		p := run(t, &s, in)
		var sum int
		for _, e := range p.ends {
			sum += int(e.Frames)
		}
		if sum != len(p.frames) || len(p.frames)+p.dropped != len(in) {
			t.Fatalf("ends count %d frames, %d came out, %d dropped, %d in", sum, len(p.frames), p.dropped, len(in))
		}
		known := false
		for i, f := range p.frames {
			checkNALs(t, f) // also where SPS/PPS were put in
			if sps, _ := new(Segmenter).paramSets(in[p.dropped+i]); sps != nil {
				known = true
			}
			if known && (i == 0 || p.segs[i] != p.segs[i-1]) {
				if types := fmt.Sprint(naluTypes(f.Data)); !strings.HasPrefix(types, "[SPS PPS") {
					t.Fatalf("segment %d opens with %s, want SPS and PPS first", p.segs[i], types)
				}
			}
		}
	})
}
