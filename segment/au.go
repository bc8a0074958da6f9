// Package segment turns an H.264 Annex-B byte stream into access units and
// cuts the access units into segments that each start with a keyframe and
// its SPS/PPS, so every segment is a file that plays on its own.
//
// The data path is Splitter (bytes → AU) then Segmenter (AU → numbered
// segments). Sources that already deliver one access unit per buffer (the
// V4L2 camera driver) skip the Splitter.
package segment

import (
	"bytes"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// AU is one H.264 access unit.
type AU struct {
	Data []byte        // Annex-B, start codes included; owned by whoever receives the AU
	Time time.Duration // capture time on a monotonic clock
	Key  bool          // contains an IDR slice
	// NALs, when not nil, is where Data's NAL units begin: the offset
	// of each one's header byte (the byte after its start code), in
	// order, for every start code in Data, including a bare one at its
	// very end. The Splitter records them as it finds the start codes
	// that cut access units, so that nobody downstream searches for
	// them again (the sender passes them on as the wire's NAL table).
	// It lies in the Block's memory like Data and is read-only.
	NALs []uint32
	// Block, when not nil, is the shared memory Data lies in (the
	// Splitter's), and the AU holds one reference to it: whoever receives
	// the AU owns that reference and gives it up with Release when done
	// with Data. nil: Data is a slice of its own.
	Block *Block
}

// Release gives up a's reference to its Block, if it has one; a's Data
// must not be used after. Call it once per AU received.
func (a AU) Release() {
	if a.Block != nil {
		a.Block.Release()
	}
}

// startCode3 is the part of every Annex-B start code that is searched
// for; a 4-byte start code is a zero byte followed by it.
var startCode3 = []byte{0, 0, 1}

// startCode4 is what the segmenter writes in front of NAL units it inserts:
// SPS and PPS open an access unit, where H.264 B.1.2 wants the 4-byte form.
var startCode4 = []byte{0, 0, 0, 1}

// nalu is one NAL unit inside an Annex-B buffer, by position: buf[begin:start]
// is its start code (3 or 4 bytes), buf[start:end] the NAL unit itself
// (header byte first; trailing zero bytes before the next start code are
// left to the NAL unit they follow, except one that becomes the next 4-byte
// start code).
type nalu struct {
	begin, start, end int
}

// nalus lists the NAL units in an Annex-B buffer. Bytes before the first
// start code are not part of any NAL unit and are not listed.
func nalus(buf []byte) []nalu { return appendNALUs(nil, buf) }

// appendNALUs appends the NAL units of buf to out, as nalus lists them.
func appendNALUs(out []nalu, buf []byte) []nalu {
	i := bytes.Index(buf, startCode3)
	begin := i
	if i > 0 && buf[i-1] == 0 {
		begin = i - 1
	}
	for i >= 0 {
		n := nalu{begin: begin, start: i + 3}
		next := bytes.Index(buf[n.start:], startCode3)
		if next < 0 {
			n.end = len(buf)
			out = append(out, n)
			break
		}
		i = n.start + next
		n.end = i
		if i > n.start && buf[i-1] == 0 {
			n.end = i - 1
		}
		begin = n.end
		out = append(out, n)
	}
	return out
}

// appendNALUsAt appends the NAL units of buf to out as appendNALUs lists
// them, from starts (see AU.NALs) instead of a search: each NAL unit
// ends where the next one's start code begins, a zero byte before that
// start code being its fourth byte.
func appendNALUsAt(out []nalu, buf []byte, starts []uint32) []nalu {
	begin := func(s, lo int) int {
		b := s - 3
		if b > lo && buf[b-1] == 0 {
			b--
		}
		return b
	}
	for k, s := range starts {
		n := nalu{start: int(s), end: len(buf)}
		if k == 0 {
			n.begin = begin(n.start, 0)
		} else {
			n.begin = out[len(out)-1].end
		}
		if k+1 < len(starts) {
			n.end = begin(int(starts[k+1]), n.start)
		}
		out = append(out, n)
	}
	return out
}

// naluType is the nal_unit_type in a NAL unit's header byte.
func naluType(header byte) h264.NALUType {
	return h264.NALUType(header & 0x1f)
}

// isVCL reports whether typ carries the start of a coded picture: the NAL
// units whose slice header begins with first_mb_in_slice (H.264 7.3.3).
// Data partitions B and C continue a picture started by partition A.
func isVCL(typ h264.NALUType) bool {
	return typ == h264.NALUTypeNonIDR || typ == h264.NALUTypeIDR || typ == h264.NALUTypeDataPartitionA
}

// IsKey reports whether an Annex-B access unit contains an IDR slice, the
// only kind of picture a decoder can start from without earlier frames.
func IsKey(data []byte) bool {
	for _, n := range nalus(data) {
		if n.start < n.end && naluType(data[n.start]) == h264.NALUTypeIDR {
			return true
		}
	}
	return false
}

// HasPicture reports whether an Annex-B buffer holds a slice of a coded
// picture, as opposed to only parameter sets or SEI: encoders that hand
// out SPS/PPS in a buffer of their own need it glued to the next frame.
func HasPicture(data []byte) bool {
	for _, n := range nalus(data) {
		if n.start < n.end && isVCL(naluType(data[n.start])) {
			return true
		}
	}
	return false
}
