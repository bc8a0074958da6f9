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
	"io"
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
	off      int64  // payload's place in the file
	size     uint32 // payload's length
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

// box is one top-level box of a file.
type box struct {
	typ       string
	off, size int64 // header included
	hdr       int64 // header length (8, or 16 for a 64-bit size)
}

// readBoxes lists the complete top-level boxes of a file of the given
// size; a file still being written ends in a box that is not complete
// yet, which is left out.
func readBoxes(r io.ReaderAt, size int64) ([]box, error) {
	var out []box
	var h [16]byte
	for off := int64(0); off+8 <= size; {
		if _, err := r.ReadAt(h[:8], off); err != nil {
			return nil, err
		}
		n, hdr := int64(binary.BigEndian.Uint32(h[:])), int64(8)
		if n == 1 {
			if off+16 > size {
				break
			}
			if _, err := r.ReadAt(h[:16], off); err != nil {
				return nil, err
			}
			n, hdr = int64(binary.BigEndian.Uint64(h[8:])), 16
		}
		if n < hdr || off+n > size {
			break
		}
		out = append(out, box{string(h[4:8]), off, n, hdr})
		off += n
	}
	return out, nil
}

func readBox(r io.ReaderAt, b box) ([]byte, error) {
	buf := make([]byte, b.size)
	_, err := r.ReadAt(buf, b.off)
	return buf, err
}

// ntpEpoch is where NTP timestamps count from.
var ntpEpoch = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)

// prftStart reads a prft box (ISO/IEC 14496-12 8.16.5, producer
// reference time): the NTP wall-clock time at which the sample at
// media_time was captured. It returns the wall-clock time of media time 0,
// which places the file to better than its name's second; ok is false for
// a box too short to read.
func prftStart(b []byte, timescale uint32) (start time.Time, ok bool) {
	body := b[8:]
	if len(body) < 4+4+8+4 || timescale == 0 {
		return time.Time{}, false
	}
	ntp := binary.BigEndian.Uint64(body[8:])
	var media uint64
	switch {
	case body[0] == 0:
		media = uint64(binary.BigEndian.Uint32(body[16:]))
	case len(body) >= 24:
		media = binary.BigEndian.Uint64(body[16:])
	default:
		return time.Time{}, false
	}
	secs, frac := ntp>>32, ntp&0xffffffff
	at := ntpEpoch.Add(time.Duration(secs)*time.Second + time.Duration(frac*uint64(time.Second)>>32))
	return at.Add(-time.Duration(float64(media) / float64(timescale) * float64(time.Second))), true
}

// readSegment reads the index of the recording r (size bytes, named
// name): its init segment and every complete fragment's sample times,
// flags and file offsets. Sample data is not read: mediacommon's fragment
// reader is given each moof with an mdat of the real size whose body is not read, so a
// day of recordings is indexed by reading its moof boxes only.
func readSegment(r io.ReaderAt, size int64, name string) (*segment, error) {
	boxes, err := readBoxes(r, size)
	if err != nil {
		return nil, err
	}
	seg := &segment{name: name}
	var initEnd int64 = -1
	for _, b := range boxes {
		if b.typ == "moov" {
			initEnd = b.off + b.size
			break
		}
	}
	if initEnd < 0 {
		return nil, fmt.Errorf("%s: no moov (no frame recorded yet)", name)
	}
	seg.initRaw = make([]byte, initEnd)
	if _, err := r.ReadAt(seg.initRaw, 0); err != nil {
		return nil, err
	}
	var init fmp4.Init
	if err := init.Unmarshal(bytes.NewReader(seg.initRaw)); err != nil {
		return nil, fmt.Errorf("%s: init segment: %w", name, err)
	}
	if len(init.Tracks) != 1 {
		return nil, fmt.Errorf("%s: %d tracks, camwire records one", name, len(init.Tracks))
	}
	seg.init = &init
	seg.timescale = init.Tracks[0].TimeScale

	var first int64 = -1
	var buf []byte
	for i, b := range boxes {
		switch {
		case b.typ == "prft" && first < 0:
			raw, err := readBox(r, b)
			if err != nil {
				return nil, err
			}
			if t, ok := prftStart(raw, seg.timescale); ok {
				seg.start, seg.precise = t, true // media time 0; moved to the first frame below
			}
			continue
		case b.typ != "moof" || i+1 >= len(boxes) || boxes[i+1].typ != "mdat":
			continue // 'free' boxes keep frames that are no samples
		}
		mdat := boxes[i+1]
		moof, err := readBox(r, b)
		if err != nil {
			return nil, err
		}
		// moof, then the mdat's header as stored, then its body's size in
		// whatever bytes buf held: only the payloads' places are used.
		need := len(moof) + int(mdat.size)
		if cap(buf) < need {
			buf = make([]byte, need)
		}
		pair := buf[:need]
		copy(pair, moof)
		if _, err := r.ReadAt(pair[len(moof):len(moof)+int(mdat.hdr)], mdat.off); err != nil {
			return nil, err
		}
		var parts fmp4.Parts
		if err := parts.Unmarshal(pair); err != nil {
			return nil, fmt.Errorf("%s: fragment at byte %d: %w", name, b.off, err)
		}
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
					// Where the payload sits: its place in pair maps to
					// the same place after the moof in the file.
					at := int64(cap(buf) - cap(s.Payload))
					if len(s.Payload) > 0 && (at < int64(len(moof)) || at+int64(len(s.Payload)) > int64(len(pair))) {
						return nil, fmt.Errorf("%s: fragment at byte %d: sample data outside its mdat", name, b.off)
					}
					seg.samples = append(seg.samples, sample{dts: dts - first, duration: s.Duration,
						ptsOff: s.PTSOffset, key: !s.IsNonSyncSample,
						off: b.off + at, size: uint32(len(s.Payload))})
					dts += int64(s.Duration)
				}
			}
		}
	}
	if seg.precise && first > 0 {
		// prft's media_time is on the track's clock, where the first
		// fragment may not start at 0.
		seg.start = seg.start.Add(seg.dur(first))
	}
	if !seg.precise {
		t, ok := startFromName(name)
		if !ok {
			return nil, fmt.Errorf("%s: no capture time in the name or a prft box", name)
		}
		seg.start = t
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
