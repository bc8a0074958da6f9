package segment

import (
	"bytes"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// maxSlack bounds how early a keyframe may be and still end a segment.
const maxSlack = 500 * time.Millisecond

// End reports that segment Segment is complete after Frames access units.
type End struct {
	Segment uint32
	Frames  uint32
}

// Segmenter numbers access units into segments, each of which starts with
// a keyframe and can be decoded on its own.
//
// A segment ends at the first keyframe at or after Length since the
// segment's first frame (by AU.Time; a keyframe up to half a frame
// interval, at most 0.5 s, early counts as on time), or at any keyframe that brings an SPS
// or PPS different from the ones in force (a resolution or profile change
// would otherwise land in the middle of a file). No access unit between
// the first keyframe and Close is lost or reordered: every one pushed
// comes out exactly once, in order.
//
// Access units pushed before the first keyframe (and after Close, before
// the next keyframe) are dropped and counted in Dropped: without the
// keyframe they refer to they cannot be decoded, and a file that starts
// with them does not play.
//
// The Segmenter keeps the latest SPS and PPS it has seen and puts them in
// front of the keyframe that opens a segment when that keyframe lacks
// them, because a camera may send them only once at start.
//
// Use from one goroutine.
type Segmenter struct {
	// Length is the target duration of a segment; segments end at the
	// first keyframe after it. 0 or less: cut only on SPS/PPS change.
	Length time.Duration
	// First is the number of the first segment; 0 means 1.
	First uint32

	next    uint32 // number of the next segment to open
	open    bool
	seg     uint32
	frames  uint32
	start   time.Duration // Time of the open segment's first frame
	last    time.Duration // Time of the AU pushed before
	sps     []byte        // latest SPS NAL unit (header byte first, no start code); its own copy
	pps     []byte
	dropped int
	ns      []nalu // scratch for paramSets and withParamSets
}

// Dropped is the number of access units pushed while no segment could be
// opened (before the first keyframe, or after Close before the next).
func (s *Segmenter) Dropped() int { return s.dropped }

// Push adds the next access unit, taking it over. When ok is false the AU
// was dropped (see Dropped; its Block reference released) and nothing
// else is set. Otherwise out belongs to segment seg and to the caller; out
// is au, or for the keyframe that opens a segment possibly a copy with
// SPS/PPS put in front (with no Block: au's is released). When ended is
// non-nil, the segment it names ended just before out: the caller finishes
// it before handling out.
func (s *Segmenter) Push(au AU) (ended *End, seg uint32, out AU, ok bool) {
	var sps, pps []byte
	if au.Key {
		sps, pps = s.paramSets(au)
	}
	changed := (sps != nil && s.sps != nil && !bytes.Equal(sps, s.sps)) ||
		(pps != nil && s.pps != nil && !bytes.Equal(pps, s.pps))
	// Kept as copies: au's bytes may be a Block's, reused after release.
	// Compared first, so a camera that repeats them costs no allocation.
	if sps != nil && !bytes.Equal(sps, s.sps) {
		s.sps = bytes.Clone(sps)
	}
	if pps != nil && !bytes.Equal(pps, s.pps) {
		s.pps = bytes.Clone(pps)
	}
	// Half a frame interval of slack: with a GOP of exactly Length, capture
	// jitter (or 1/30 s rounding) would otherwise put the keyframe a hair
	// before Length and double the segment. Capped, so that a pause in the
	// stream (a restarted camera) does not cut a segment early.
	slack := min(max(au.Time-s.last, 0)/2, maxSlack)
	s.last = au.Time
	if s.open && au.Key && (changed || s.Length > 0 && au.Time-s.start >= s.Length-slack) {
		ended = s.Close()
	}
	if !s.open {
		if !au.Key {
			s.dropped++
			au.Release()
			return ended, 0, AU{}, false
		}
		if s.next == 0 {
			s.next = max(s.First, 1)
		}
		s.open, s.seg, s.frames, s.start = true, s.next, 0, au.Time
		s.next++
		if data, nals, copied := s.withParamSets(au, sps == nil, pps == nil); copied {
			au.Release()
			au.Data, au.NALs, au.Block = data, nals, nil
		}
	}
	s.frames++
	return ended, s.seg, au, true
}

// Close ends the open segment and reports it; nil when none is open. The
// next keyframe pushed opens the following segment number.
func (s *Segmenter) Close() *End {
	if !s.open {
		return nil
	}
	s.open = false
	return &End{Segment: s.seg, Frames: s.frames}
}

// listNALUs lists au's NAL units into s.ns, from its NAL table when it
// has one (no search), else by searching its bytes.
func (s *Segmenter) listNALUs(au AU) []nalu {
	if au.NALs != nil {
		s.ns = appendNALUsAt(s.ns[:0], au.Data, au.NALs)
	} else {
		s.ns = appendNALUs(s.ns[:0], au.Data)
	}
	return s.ns
}

// paramSets returns the last SPS and PPS NAL units in an access unit
// (header byte first, no start code; slices of its Data), nil when absent.
func (s *Segmenter) paramSets(au AU) (sps, pps []byte) {
	data := au.Data
	s.listNALUs(au)
	for _, n := range s.ns {
		if n.start >= n.end {
			continue
		}
		switch naluType(data[n.start]) {
		case h264.NALUTypeSPS:
			sps = data[n.start:n.end]
		case h264.NALUTypePPS:
			pps = data[n.start:n.end]
		}
	}
	return sps, pps
}

// withParamSets returns au.Data with the remembered SPS and/or PPS
// inserted where H.264 7.4.1.2.3 allows them: after a leading access unit
// delimiter (which must stay first), an SPS before any PPS, and a missing
// PPS after the access unit's own SPS, and the NAL table of the result
// when au has one. au.Data itself is returned (copied false) when nothing
// is missing or nothing is known to insert.
func (s *Segmenter) withParamSets(au AU, needSPS, needPPS bool) (out []byte, nals []uint32, copied bool) {
	data := au.Data
	needSPS = needSPS && s.sps != nil
	needPPS = needPPS && s.pps != nil
	if !needSPS && !needPPS {
		return data, au.NALs, false
	}
	ns := s.listNALUs(au)
	at := 0 // insert before the first NAL unit ...
	if len(ns) > 0 {
		at = ns[0].begin
		if ns[0].start < ns[0].end && naluType(data[ns[0].start]) == h264.NALUTypeAccessUnitDelimiter {
			at = ns[0].end // ... or after a leading delimiter
		}
	}
	if !needSPS { // the AU has its own SPS: the PPS goes after it
		for _, n := range ns {
			if n.start < n.end && naluType(data[n.start]) == h264.NALUTypeSPS {
				at = n.end
			}
		}
	}
	out = make([]byte, 0, len(data)+2*len(startCode4)+len(s.sps)+len(s.pps))
	out = append(out, data[:at]...)
	var insAt [2]uint32
	ins := insAt[:0] // where the inserted NAL units begin
	if needSPS {
		out = append(out, startCode4...)
		ins = append(ins, uint32(len(out)))
		out = append(out, s.sps...)
	}
	if needPPS {
		out = append(out, startCode4...)
		ins = append(ins, uint32(len(out)))
		out = append(out, s.pps...)
	}
	moved := uint32(len(out) - at)
	out = append(out, data[at:]...)
	if au.NALs == nil {
		return out, nil, true
	}
	// The table of out: at is a NAL unit's begin, so the units before it
	// keep their offsets and the ones after move by the inserted bytes.
	nals = make([]uint32, 0, len(au.NALs)+len(ins))
	i := 0
	for ; i < len(au.NALs) && int(au.NALs[i]) < at; i++ {
		nals = append(nals, au.NALs[i])
	}
	nals = append(nals, ins...)
	for _, n := range au.NALs[i:] {
		nals = append(nals, n+moved)
	}
	return out, nals, true
}
