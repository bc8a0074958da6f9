package mp4

import (
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	mcmp4 "github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"
)

// trackID is the one video track's ID.
const trackID = 1

// InitSegment returns ftyp+moov for one H.264 track described by sps and
// pps (NAL units without start codes).
func InitSegment(sps, pps []byte) ([]byte, error) {
	var p h264.SPS
	if err := p.Unmarshal(sps); err != nil {
		return nil, fmt.Errorf("mp4: bad SPS: %w", err)
	}
	init := fmp4.Init{Tracks: []*fmp4.InitTrack{{
		ID:        trackID,
		TimeScale: TimeScale,
		Codec:     &mcmp4.CodecH264{SPS: sps, PPS: pps},
	}}}
	var buf seekablebuffer.Buffer
	if err := init.Marshal(&buf); err != nil {
		return nil, fmt.Errorf("mp4: init segment: %w", err)
	}
	return buf.Bytes(), nil
}

// CodecString is the RFC 6381 codec of the stream, e.g. "avc1.64001f",
// which Media Source Extensions need before the first byte.
func CodecString(sps []byte) string {
	if len(sps) < 4 {
		return "avc1.42e01e"
	}
	return fmt.Sprintf("avc1.%02x%02x%02x", sps[1], sps[2], sps[3])
}

// TimedSample is a Sample whose place on the decode timeline is fixed.
type TimedSample struct {
	Sample
	Duration uint32 // ticks until the next sample's DTS
}

// Fragment returns moof+mdat holding samples, which must be contiguous:
// the first starts at baseTime and each lasts until the next.
func Fragment(seq uint32, baseTime uint64, samples []TimedSample) ([]byte, error) {
	n := 0
	for _, s := range samples {
		n += len(s.AVCC)
	}
	return AppendFragment(make([]byte, 0, 256+16*len(samples)+n), seq, baseTime, samples)
}

// AppendFragment is Fragment appended to dst, which is returned (grown
// if needed; unchanged on error): a live viewer reuses one buffer for
// every frame instead of allocating a fragment each.
func AppendFragment(dst []byte, seq uint32, baseTime uint64, samples []TimedSample) ([]byte, error) {
	b, err := FragmentHeader(dst, seq, baseTime, samples)
	if err != nil {
		return dst, err
	}
	for _, s := range samples {
		b = append(b, s.AVCC...)
	}
	return b, nil
}

// Lay places samples that were stamped with real decode times on a
// contiguous timeline starting at start (where the previous fragment
// ended) and returns them with durations plus the end of the last one.
//
// The first sample starts at start even if its stamp is a little off
// (the previous fragment's last duration was a guess); later samples keep
// their stamps, so errors never accumulate. lastTicks is the guess for the
// final sample, whose successor has not arrived yet.
func Lay(start int64, samples []Sample, lastTicks int64) ([]TimedSample, int64) {
	return appendLaid(make([]TimedSample, 0, len(samples)), start, samples, lastTicks)
}

// appendLaid is Lay appending to dst, which a writer reuses for every
// fragment.
func appendLaid(dst []TimedSample, start int64, samples []Sample, lastTicks int64) ([]TimedSample, int64) {
	pos := start
	for i, s := range samples {
		var next int64
		if i+1 < len(samples) {
			next = samples[i+1].DTS
		} else {
			next = max(s.DTS, pos) + lastTicks
		}
		if next <= pos {
			next = pos + 1 // bursty stamps: every sample lasts at least a tick
		}
		dst = append(dst, TimedSample{Sample: s, Duration: uint32(next - pos)})
		pos = next
	}
	return dst, pos
}
