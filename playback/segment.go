// Package playback is camwire-recv's playback API in the shape of
// MediaMTX's playback server (/list and /get), so tools written for
// MediaMTX read camwire's recordings: /list answers the recorded spans of
// a camera, /get cuts any range of them into one MP4 file, a remux of the
// stored samples (never a re-encode) that crosses segment boundaries.
package playback

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
)

// nameLayout is the time at the start of every recording's name
// (recv's fileBase): the first frame's time, UTC, to the second.
const nameLayout = "20060102T150405Z"

// sample is one stored frame, its decode time in the file's timescale
// from the file's first frame.
type sample struct {
	dts      int64
	duration uint32
	ptsOff   int32
	key      bool
	payload  []byte
}

// segment is one recording file read back.
type segment struct {
	name      string
	start     time.Time // the first frame's wall-clock time
	precise   bool      // start came from a prft box, not the 1 s name
	init      *fmp4.Init
	initRaw   []byte // ftyp+moov as stored: two files concatenate when equal in codec
	timescale uint32
	samples   []sample
}

// startFromName parses the capture time a recording's name begins with.
func startFromName(name string) (time.Time, bool) {
	if len(name) < len(nameLayout) {
		return time.Time{}, false
	}
	t, err := time.Parse(nameLayout, name[:len(nameLayout)])
	return t, err == nil
}

// isRecording reports whether name is a fragmented MP4 recording,
// finished or still being written.
func isRecording(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	_, ok := startFromName(name)
	return ok && strings.EqualFold(filepath.Ext(strings.TrimSuffix(name, ".partial")), ".mp4")
}

// completeBoxes returns the prefix of b made of whole top-level boxes: a
// file still being written ends in a fragment that is not complete yet.
func completeBoxes(b []byte) []byte {
	off := 0
	for off+8 <= len(b) {
		n := int(binary.BigEndian.Uint32(b[off:]))
		if n == 1 && off+16 <= len(b) {
			n = int(binary.BigEndian.Uint64(b[off+8:]))
		}
		if n < 8 || off+n > len(b) {
			break
		}
		off += n
	}
	return b[:off]
}

// topBoxes calls fn for each top-level box of b with its type and body.
func topBoxes(b []byte, fn func(typ string, box []byte) bool) {
	for off := 0; off+8 <= len(b); {
		n := int(binary.BigEndian.Uint32(b[off:]))
		if n < 8 || off+n > len(b) {
			return
		}
		if !fn(string(b[off+4:off+8]), b[off:off+n]) {
			return
		}
		off += n
	}
}

// ntpEpoch is where NTP timestamps count from.
var ntpEpoch = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)

// prftStart reads the first prft box (ISO/IEC 14496-12 8.16.5, producer
// reference time) of a file: the NTP wall-clock time at which the sample
// at media_time was captured, giving the file's start to better than the
// name's second. ok is false when the file has none.
func prftStart(b []byte, timescale uint32) (start time.Time, ok bool) {
	topBoxes(b, func(typ string, box []byte) bool {
		if typ != "prft" {
			return true
		}
		body := box[8:]
		if len(body) < 4+4+8+4 || timescale == 0 {
			return false
		}
		version := body[0]
		ntp := binary.BigEndian.Uint64(body[8:])
		var media uint64
		if version == 0 {
			media = uint64(binary.BigEndian.Uint32(body[16:]))
		} else if len(body) >= 24 {
			media = binary.BigEndian.Uint64(body[16:])
		} else {
			return false
		}
		secs, frac := ntp>>32, ntp&0xffffffff
		at := ntpEpoch.Add(time.Duration(secs)*time.Second + time.Duration(frac*uint64(time.Second)>>32))
		start = at.Add(-time.Duration(float64(media) / float64(timescale) * float64(time.Second)))
		ok = true
		return false
	})
	return start, ok
}

// parseSegment reads the recording raw (whose file name is name): its
// init segment and every complete fragment's samples.
func parseSegment(raw []byte, name string) (*segment, error) {
	b := completeBoxes(raw)
	seg := &segment{name: name}
	var initEnd int
	topBoxes(b, func(typ string, box []byte) bool {
		initEnd += len(box)
		return typ != "moov"
	})
	if initEnd > len(b) || initEnd == 0 {
		return nil, fmt.Errorf("%s: no moov (no frame recorded yet)", name)
	}
	seg.initRaw = b[:initEnd]
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader(seg.initRaw)); err != nil {
		return nil, fmt.Errorf("%s: init segment: %w", name, err)
	}
	if len(init.Tracks) != 1 {
		return nil, fmt.Errorf("%s: %d tracks, camwire records one", name, len(init.Tracks))
	}
	seg.init = &init
	seg.timescale = init.Tracks[0].TimeScale

	// Only the fragments: mediacommon's reader wants moof/mdat pairs, and
	// a recording also holds 'free' boxes (frames kept raw) and prft boxes.
	var frags []byte
	topBoxes(b[initEnd:], func(typ string, box []byte) bool {
		if typ == "moof" || typ == "mdat" {
			frags = append(frags, box...)
		}
		return true
	})
	var parts fmp4.Parts
	if err := parts.Unmarshal(frags); err != nil {
		return nil, fmt.Errorf("%s: fragments: %w", name, err)
	}
	var first int64 = -1
	for _, p := range parts {
		for _, tr := range p.Tracks {
			if tr.ID != init.Tracks[0].ID {
				continue
			}
			dts := int64(tr.BaseTime)
			for _, s := range tr.Samples {
				if first < 0 {
					first = dts
				}
				seg.samples = append(seg.samples, sample{dts: dts - first, duration: s.Duration,
					ptsOff: s.PTSOffset, key: !s.IsNonSyncSample, payload: s.Payload})
				dts += int64(s.Duration)
			}
		}
	}
	if t, ok := prftStart(b, seg.timescale); ok {
		seg.start, seg.precise = t, true
	} else if t, ok := startFromName(name); ok {
		seg.start = t
	} else {
		return nil, fmt.Errorf("%s: no capture time in the name or a prft box", name)
	}
	return seg, nil
}

// ticks converts a duration in the segment's timescale.
func (s *segment) dur(ticks int64) time.Duration {
	return time.Duration(float64(ticks) / float64(s.timescale) * float64(time.Second))
}

// length is the segment's recorded duration: up to the end of its last
// frame.
func (s *segment) length() int64 {
	if len(s.samples) == 0 {
		return 0
	}
	l := s.samples[len(s.samples)-1]
	return l.dts + int64(l.duration)
}
