package sender

import "github.com/camwire/camwire/segment"

// enforce drops unwritten records until the buffer fits its bound.
func (s *Sender) enforce() {
	for s.used > s.cfg.BufferBytes {
		if !s.dropRun() {
			return // only pinned records left; they are capped at half the buffer
		}
	}
}

// dropRun frees some unwritten records and reports whether it could.
//
// Oldest first, by whole GOPs: it drops the oldest unwritten frames up to
// (not including) the first keyframe at which the buffer fits again, so the
// first frame after the Gap is a keyframe. If no keyframe gives enough
// room, all GOPs older than the one being captured go. Only when the GOP
// being captured alone overflows the buffer does it lose frames, newest
// first: its keyframe and first frames stay decodable, and skipToKey drops
// the rest of it as it arrives.
//
// SegmentEnds inside a dropped run survive: they move behind the Gap
// (unwritten records may be renumbered, the receiver has never seen their
// numbers), so the receiver still closes every file.
func (s *Sender) dropRun() bool {
	st := s.wi
	for st < s.q.len() && s.q.at(st).kind == kindSegmentEnd {
		st++ // a SegmentEnd before the first dropped frame stays in front
	}
	n := s.q.len()
	if st == n {
		return false // nothing unwritten but SegmentEnds
	}
	freed, c, lastKey := 0, -1, -1
	var held *segment.Block // block of the last frame in the run that holds its size
	for i := st; i < n; i++ {
		r := s.q.at(i)
		if i > st && r.kind == kindFrame && r.key {
			lastKey = i
			f := freed
			if sameRun(r, held) {
				f -= held.Size() // the block stays: r and its run keep it
			}
			if s.used-f+recOverhead <= s.cfg.BufferBytes {
				c = i
				break
			}
		}
		if r.kind != kindSegmentEnd {
			freed += r.size()
		}
		if r.kind == kindFrame && r.holds {
			held = r.blk
		}
	}
	switch {
	case c >= 0:
		return s.dropRange(st, c)
	case lastKey >= 0 && s.dropRange(st, lastKey):
		return true // not enough, but every older GOP goes first
	case s.dropNewest():
		return true
	}
	// The GOP being captured cannot even keep its keyframe.
	return s.dropRange(st, n)
}

// dropRange replaces the unwritten records [st, c), which start with a
// frame or Gap, by one Gap followed by the SegmentEnds among them.
func (s *Sender) dropRange(st, c int) bool {
	toEnd := c == s.q.len()
	frames := uint32(0)
	for i := st; i < c; i++ {
		if s.q.at(i).kind == kindFrame {
			frames++
		}
	}
	if frames == 0 {
		return false // only Gaps and SegmentEnds: nothing to gain
	}
	// The run holds consecutive sequence numbers first..last. The Gap
	// takes the low ones, the surviving SegmentEnds the high ones.
	first, last := s.q.at(st).firstSeq(), s.q.at(c-1).seq
	s.keep = append(s.keep[:0], rec{kind: kindGap, first: first, frames: frames})
	freed := 0
	var held *rec // the last frame in the range that holds its block's size
	for i := st; i < c; i++ {
		switch r := s.q.at(i); r.kind {
		case kindFrame:
			freed += r.size()
			if r.blk != nil && r.holds {
				held = r
			}
		case kindSegmentEnd:
			s.keep = append(s.keep, *r)
		case kindGap:
			freed += r.size()
			s.keep[0].frames += r.frames
		}
	}
	if held != nil && s.passHold(held, c) >= 0 {
		freed -= held.blk.Size() // its run goes on after c (unwritten, so not pinned)
	}
	for i := st; i < c; i++ {
		if r := s.q.at(i); r.kind == kindFrame {
			s.release(r) // unwritten: no writer holds it
		}
	}
	gap := &s.keep[0]
	gap.seq = last - uint64(len(s.keep)-1)
	for i := 1; i < len(s.keep); i++ {
		s.keep[i].seq = gap.seq + uint64(i)
	}
	s.used += gap.size() - freed
	s.q.replace(st, c, s.keep)
	clear(s.keep)
	s.c.Dropped += uint64(frames)
	if toEnd {
		s.skipToKey = true // dropped up to the newest: the GOP lost its head
	}
	return true
}

// dropNewest drops unwritten non-key frames from the end of the queue into
// a trailing Gap until the buffer fits, and sets skipToKey. It reports
// false, dropping nothing, when that cannot make the buffer fit without
// reaching a keyframe, a SegmentEnd or a written record.
func (s *Sender) dropNewest() bool {
	// Check first, so a failure leaves the queue as it was.
	n := s.q.len()
	j := n - 1
	if j >= s.wi && s.q.at(j).kind == kindGap {
		j--
	}
	over := s.used - s.cfg.BufferBytes
	if s.q.at(n-1).kind != kindGap {
		over += recOverhead // the Gap to be made
	}
	for k := j; over > 0; k-- {
		if k < s.wi || k < 0 {
			return false
		}
		r := s.q.at(k)
		if r.kind != kindFrame || r.key {
			return false
		}
		over -= r.size()
	}
	for s.used > s.cfg.BufferBytes {
		var gap rec
		if t := s.q.last(); t.kind == kindGap {
			gap = s.q.popBack()
		} else {
			gap = rec{kind: kindGap, seq: t.seq, first: t.seq + 1}
			s.used += gap.size()
		}
		f := s.q.last()
		gap.first = f.seq
		gap.frames++
		s.used -= f.size() // the newest of its run: the block's size goes only with the run's first
		s.release(f)
		*f = gap
		s.c.Dropped++
	}
	s.skipToKey = true
	return true
}

// appendGap records that the frame with sequence number seq was dropped on
// arrival: it extends a trailing unwritten Gap or starts one.
func (s *Sender) appendGap(seq uint64) {
	if s.q.len() > s.wi {
		if l := s.q.last(); l.kind == kindGap && l.seq == seq-1 {
			l.seq = seq
			l.frames++
			return
		}
	}
	r := rec{seq: seq, first: seq, frames: 1, kind: kindGap}
	s.queue(r)
}
