package playback

import (
	"fmt"
	"reflect"
	"sort"
	"time"
)

// concatTolerance is how far a recording's start may sit from the end of
// the one before it for the two to count as one gapless span. Names carry
// the time to the second (truncated), so two gapless files disagree by
// under 1 s; MediaMTX uses the same tolerance.
const concatTolerance = time.Second

// preciseTolerance replaces concatTolerance when both files carry their
// start in a prft box: clock-mapping jitter is milliseconds, so anything
// longer than a frame (and 50 ms) is a real gap.
func preciseTolerance(s *segment) time.Duration {
	return max(s.dur(medianTicks(s)), 50*time.Millisecond)
}

// piece is a run of one segment's samples with no gap inside, placed on
// the wall clock.
type piece struct {
	seg      *segment
	from, to int       // samples[from:to]
	start    time.Time // where samples[from] sits
	endTicks int64     // end of the last sample, relative to samples[from].dts
}

func (p piece) end() time.Time { return p.start.Add(p.seg.dur(p.endTicks)) }

// span is a gapless stretch of recording: what /list returns one entry
// for.
type span struct {
	pieces []piece
}

func (s span) start() time.Time { return s.pieces[0].start }
func (s span) end() time.Time   { return s.pieces[len(s.pieces)-1].end() }

// medianTicks is a segment's typical frame duration.
func medianTicks(s *segment) int64 {
	if len(s.samples) == 0 {
		return 0
	}
	d := make([]int64, len(s.samples))
	for i, x := range s.samples {
		d[i] = int64(x.duration)
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2]
}

// splitGaps cuts a segment into pieces at frames that last far longer
// than the segment's typical frame: the camera dropped frames there (its
// capture times jump), so the recording has a hole. The frame before the
// hole is given the typical duration.
func splitGaps(s *segment) []piece {
	if len(s.samples) == 0 {
		return nil
	}
	med := medianTicks(s)
	gap := max(4*med, int64(s.timescale)/5) // 4 frames, and at least 200 ms
	var out []piece
	from := 0
	for i, x := range s.samples {
		last := i == len(s.samples)-1
		if !last && int64(x.duration) <= gap {
			continue
		}
		d := int64(x.duration)
		if d > gap {
			d = med
		}
		base := s.samples[from].dts
		out = append(out, piece{seg: s, from: from, to: i + 1,
			start: s.start.Add(s.dur(base)), endTicks: x.dts + d - base})
		from = i + 1
	}
	return out
}

// sameCodec reports whether b's stream continues a's: the same track
// codec and timescale (SPS/PPS), so one init segment serves both.
func sameCodec(a, b *segment) bool {
	return a.timescale == b.timescale && reflect.DeepEqual(a.init.Tracks[0].Codec, b.init.Tracks[0].Codec)
}

// spans places segments (in any order) on the wall clock and joins them
// into gapless spans. Within a span every piece after the first starts
// exactly where the previous one ended: the files are gapless, and their
// durations are exact where their names are not.
func spans(segs []*segment) []span {
	sort.Slice(segs, func(i, j int) bool {
		if !segs[i].start.Equal(segs[j].start) {
			return segs[i].start.Before(segs[j].start)
		}
		return segs[i].name < segs[j].name
	})
	var out []span
	for _, s := range segs {
		for k, p := range splitGaps(s) {
			if n := len(out); n > 0 && k == 0 {
				last := out[n-1].pieces[len(out[n-1].pieces)-1]
				wholeTail := last.to == len(last.seg.samples)
				end := last.end()
				tol := concatTolerance
				if last.seg.precise && s.precise {
					tol = preciseTolerance(s)
				}
				if wholeTail && last.seg != s && sameCodec(last.seg, s) &&
					!p.start.Before(end.Add(-tol)) && !p.start.After(end.Add(tol)) {
					p.start = end
					out[n-1].pieces = append(out[n-1].pieces, p)
					continue
				}
			}
			out = append(out, span{pieces: []piece{p}})
		}
	}
	return out
}

// timed is one sample placed on a span's clock.
type timed struct {
	sample
	seg   *segment // the file it is in
	at    time.Time
	ticks int64 // from the span's start, in the span's timescale
}

// samples lists the span's samples in decode order with their times.
func (s span) samples() []timed {
	var out []timed
	t0 := s.start()
	ts := s.pieces[0].seg.timescale
	for _, p := range s.pieces {
		base := int64(p.start.Sub(t0).Seconds()*float64(ts) + 0.5)
		first := p.seg.samples[p.from].dts
		for _, x := range p.seg.samples[p.from:p.to] {
			off := base + x.dts - first
			out = append(out, timed{sample: x, seg: p.seg, ticks: off,
				at: t0.Add(time.Duration(float64(off) / float64(ts) * float64(time.Second)))})
		}
		// The frame before a hole or the span's end: its stored duration
		// may cover the hole; the piece's end is the truth.
		if n := len(out); n > 0 {
			out[n-1].duration = uint32(base + p.endTicks - out[n-1].ticks)
		}
	}
	return out
}

// errNoRecording is returned when nothing was recorded in a range.
var errNoRecording = fmt.Errorf("no recording in that range")

// cut returns the samples /get serves for [start, start+d): from the
// keyframe at or before start (or the span's first frame, if start is
// earlier) to the last frame that begins before the end, in the first
// span that overlaps the range. Times are rebased so the first frame is
// at 0 and the last frame ends at the range's end.
func cut(all []span, start time.Time, d time.Duration) ([]timed, *segment, error) {
	end := start.Add(d)
	for _, sp := range all {
		if !sp.end().After(start) || !sp.start().Before(end) {
			continue
		}
		ss := sp.samples()
		first := 0
		for i, x := range ss {
			if x.at.After(start) {
				break
			}
			if x.key {
				first = i
			}
		}
		for first < len(ss) && !ss[first].key {
			first++ // a span begins at a keyframe; this is for a damaged file
		}
		last := first
		for last < len(ss) && ss[last].at.Before(end) {
			last++
		}
		out := ss[first:last]
		if len(out) == 0 {
			return nil, nil, errNoRecording
		}
		ts := sp.pieces[0].seg.timescale
		base := out[0].ticks
		endTicks := base + int64(end.Sub(out[0].at).Seconds()*float64(ts)+0.5)
		for i := range out {
			out[i].ticks -= base
			if i+1 < len(out) {
				out[i].duration = uint32(out[i+1].ticks - out[i].ticks - base)
			} else if e := endTicks - base; out[i].ticks+int64(out[i].duration) > e {
				out[i].duration = uint32(e - out[i].ticks)
			}
		}
		return out, sp.pieces[0].seg, nil
	}
	return nil, nil, errNoRecording
}
