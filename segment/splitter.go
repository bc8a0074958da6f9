package segment

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// DefaultMaxAU is the largest access unit a Splitter holds when MaxAU is 0:
// 8 MiB (mediacommon's h264.MaxAccessUnitSize, more than a 25 Mbit/s
// keyframe) minus 64 KiB, so that an access unit plus the SPS/PPS the
// Segmenter may put in front still fits the wire's 8 MiB frame limit.
const DefaultMaxAU = h264.MaxAccessUnitSize - 64<<10

// ErrAUTooBig is returned (wrapped, with the sizes) when the bytes since
// the start of an access unit exceed the Splitter's MaxAU without an access
// unit boundary: the input is not H.264 Annex-B, or is broken.
var ErrAUTooBig = errors.New("access unit too big")

// Splitter cuts an H.264 Annex-B byte stream, delivered in chunks of any
// size (as a pipe gives them), into access units.
//
// An access unit ends where the next one begins (H.264 7.4.1.2.3): at an
// access unit delimiter, SPS, PPS, SEI or NAL type 14–18 that follows a
// picture, or at the first slice of a new picture. A new picture is
// recognised by first_mb_in_slice == 0, which needs only the first bit after
// the slice's NAL header; streams with arbitrary slice order (a Baseline
// option no camera encoder uses) or redundant pictures are not split
// correctly.
//
// Because Annex-B has no lengths, an access unit is known to be complete
// only when the first two bytes of the next one have arrived: output lags
// input by one access unit until Flush.
//
// Each access unit comes with its NAL table (AU.NALs): the start codes
// the search for access unit boundaries found, so the table costs no
// pass of its own and nobody downstream searches the bytes again.
//
// The concatenation of all access units returned equals the input from its
// first start code on; bytes before the first start code (and access units
// dropped for size) are counted in Dropped.
//
// Input lands in Blocks of 1 MiB (bigger for a bigger access unit or
// Write) and the access units handed out are slices of them: Buffer and
// Written let a reader fill the block directly, so the bytes are never
// copied; Write copies a chunk in for callers that reuse theirs. Each AU
// holds a reference to its Block (see Block for the rules); released
// blocks come back for new input, so a steady stream whose AUs are
// released reads into the same few blocks without allocating. The
// Splitter itself holds one block, 1 MiB or, for bigger access units,
// up to twice MaxAU plus the largest read or Write; the rest is held by
// the AUs.
//
// A Splitter must not be copied after first use.
type Splitter struct {
	// MaxAU bounds the bytes of one access unit; 0 means DefaultMaxAU.
	MaxAU int

	blk    *Block // the block being read into, held by the Splitter; nil before the first input
	buf    []byte // blk.buf's filled part; buf[base:] is the access unit being collected, buf[:base] is handed out or dropped and never written again
	base   int
	pool   blockPool
	synced bool // a start code has been seen; buf[base:] begins with one
	scan   int  // where the search for the next start code resumes

	// The latest NAL unit whose start code has been seen but which has not
	// yet been assigned to the current or a new access unit: its start code
	// begins at pendBegin, its header byte is at pend (-1: none).
	pend      int
	pendBegin int
	pendTime  time.Duration

	// nals is where the NAL units assigned to the access unit being
	// collected begin (their header bytes' indexes in buf), for AU.NALs.
	nals []int

	auTime time.Duration // arrival of the chunk that completed this AU's first start code
	vcl    bool          // current access unit has a slice of its primary picture
	key    bool          // ... and it is an IDR slice

	dropped int64
	tooBig  int  // size of an AU dropped during this Write, for the error
	out     []AU // what this Written returns; reused
}

// Dropped is the number of input bytes that are in no access unit returned:
// bytes before the first start code and access units dropped by ErrAUTooBig.
func (s *Splitter) Dropped() int64 { return s.dropped }

func (s *Splitter) maxAU() int {
	if s.MaxAU > 0 {
		return s.MaxAU
	}
	return DefaultMaxAU
}

// minRead is the least free space Buffer hands out when asked for less:
// a pipe's worth, so a reader is never starved into tiny reads (a
// sixteenth of the block when tests make blocks small).
const minRead = 64 << 10

// Buffer returns free space of at least n bytes (at least 64 KiB) at the
// end of the block the Splitter reads into. Read the input into it, then
// call Written with the count read; the space is only valid until then.
// When the block has too little room left, the unfinished access unit
// moves to a fresh block first (a free one when there is one).
func (s *Splitter) Buffer(n int) []byte {
	n = max(n, min(minRead, s.pool.blockSize()/16))
	if s.blk == nil || cap(s.buf)-len(s.buf) < n {
		s.grow(n)
	}
	return s.buf[len(s.buf):cap(s.buf)]
}

// grow moves buf[base:] into a block with room for n more bytes and lets
// the old block go (it stays alive while AUs in it are held).
func (s *Splitter) grow(n int) {
	keep := len(s.buf) - s.base
	b := s.pool.get(max(keep+n, 2*keep)) // doubling: a growing AU moves O(1) times per byte
	b.buf = append(b.buf, s.buf[s.base:]...)
	if s.blk != nil {
		s.blk.Release()
	}
	s.blk, s.buf = b, b.buf
	s.scan -= s.base
	s.pendBegin -= s.base
	for i := range s.nals {
		s.nals[i] -= s.base
	}
	if s.pend >= 0 {
		s.pend -= s.base
	}
	s.base = 0
}

// Written adds the n bytes just read into the space Buffer returned, which
// arrived at time t, and returns the access units they completed, oldest
// first, each stamped with the arrival time of the chunk that completed
// its first start code. The returned slice is reused by the next call;
// each AU is the caller's, with a reference to its Block. On ErrAUTooBig
// the access unit in progress is dropped (and counted) and the Splitter
// looks for the next start code; the AUs completed before are still
// returned.
func (s *Splitter) Written(n int, t time.Duration) ([]AU, error) {
	if n < 0 || s.blk == nil || len(s.buf)+n > cap(s.buf) {
		panic("segment: Splitter.Written without Buffer, or more than it gave")
	}
	s.buf = s.buf[:len(s.buf)+n]
	clear(s.out)
	s.out = s.out[:0]
	if !s.synced && !s.sync(t) {
		return s.out, nil
	}
	for {
		if s.pend >= 0 && !s.decide(false) {
			break
		}
		j := bytes.Index(s.buf[s.scan:], startCode3)
		if j < 0 {
			// The last two bytes may be the start of a start code.
			s.scan = max(s.scan, len(s.buf)-2)
			break
		}
		i := s.scan + j
		s.pend, s.pendBegin, s.pendTime, s.scan = i+3, i, t, i+3
		if s.buf[i-1] == 0 { // i > base: buf[base:] starts with a start code
			s.pendBegin = i - 1
		}
	}
	if size := len(s.buf) - s.base; size > s.maxAU() {
		s.dropped += int64(size)
		s.reset()
		s.tooBig = size
	}
	if s.tooBig > 0 {
		err := fmt.Errorf("%w: %d bytes without an access unit boundary, limit %d", ErrAUTooBig, s.tooBig, s.maxAU())
		s.tooBig = 0
		return s.out, err
	}
	return s.out, nil
}

// Write adds p, which arrived at time t, as Written does; it copies p, so
// the caller may reuse it. The returned slice is the caller's.
func (s *Splitter) Write(p []byte, t time.Duration) ([]AU, error) {
	n := copy(s.Buffer(len(p)), p)
	aus, err := s.Written(n, t)
	return slices.Clone(aus), err
}

// Flush ends the input: it returns the access unit in progress (possibly
// one without a picture, e.g. a trailing SPS) in a new slice, and starts
// over as if new, letting go of its block.
func (s *Splitter) Flush() []AU {
	clear(s.out)
	s.out = s.out[:0]
	if !s.synced {
		s.dropped += int64(len(s.buf) - s.base)
		s.reset()
	} else {
		if s.pend >= 0 {
			s.decide(true)
		}
		if len(s.buf) > s.base {
			s.emit(len(s.buf))
		}
		s.reset()
	}
	if s.blk != nil {
		s.blk.Release()
		s.blk, s.buf, s.base = nil, nil, 0
	}
	return slices.Clone(s.out)
}

// sync drops the bytes before the first start code; it reports whether
// one was found.
func (s *Splitter) sync(t time.Duration) bool {
	in := s.buf[s.base:]
	i := bytes.Index(in, startCode3)
	if i < 0 {
		keep := min(3, len(in)) // may be the start of 00 00 00 01
		s.dropped += int64(len(in) - keep)
		s.base = len(s.buf) - keep
		return false
	}
	if i > 0 && in[i-1] == 0 {
		i--
	}
	s.dropped += int64(i)
	b := s.base + i
	s.synced, s.base, s.auTime = true, b, t
	s.pendBegin = b
	s.pend = b + 3
	if s.buf[b] == 0 && s.buf[b+1] == 0 && s.buf[b+2] == 0 {
		s.pend = b + 4
	}
	s.pendTime, s.scan = t, s.pend
	return true
}

// decide assigns the pending NAL unit to the current access unit or, when
// it begins a new one, first emits the current one. It reports false when
// more bytes are needed to know; at the end of input (final) it decides
// with what is there.
func (s *Splitter) decide(final bool) bool {
	p := s.pend
	if p >= len(s.buf) {
		if !final {
			return false
		}
		s.nals = append(s.nals, p) // a bare start code at the very end
		s.pend = -1
		return true
	}
	typ := naluType(s.buf[p])
	starts := false
	switch {
	case isVCL(typ):
		if p+1 >= len(s.buf) {
			if !final {
				return false
			}
		} else {
			// first_mb_in_slice is ue(v); the value 0 is the single bit 1.
			starts = s.buf[p+1]&0x80 != 0
		}
	case typ == h264.NALUTypeAccessUnitDelimiter, typ == h264.NALUTypeSPS,
		typ == h264.NALUTypePPS, typ == h264.NALUTypeSEI,
		typ >= h264.NALUTypePrefix && typ <= h264.NALUTypeReserved18:
		starts = true
	}
	if starts && s.vcl {
		s.emit(s.pendBegin)
		s.auTime = s.pendTime
	}
	if isVCL(typ) {
		s.vcl = true
		s.key = s.key || typ == h264.NALUTypeIDR
	}
	s.nals = append(s.nals, p)
	s.pend = -1
	return true
}

// emit hands out buf[base:end] as an access unit, a slice of the block
// with a reference to it (capped, so an append to it cannot overwrite
// the next access unit); one over MaxAU (it grew past the limit
// within one Write) is dropped instead, so no AU handed out exceeds MaxAU.
func (s *Splitter) emit(end int) {
	if size := end - s.base; size > s.maxAU() {
		s.dropped += int64(size)
		s.tooBig = size
		s.base = end
		s.vcl, s.key = false, false
		s.nals = s.nals[:0]
		return
	}
	s.blk.Retain()
	// The table goes into the block beside the bytes, so it needs no
	// memory of its own: a reused block brings its tables' back.
	t := len(s.blk.nals)
	for _, n := range s.nals {
		s.blk.nals = append(s.blk.nals, uint32(n-s.base))
	}
	nals := s.blk.nals[t:len(s.blk.nals):len(s.blk.nals)]
	s.out = append(s.out, AU{Data: s.buf[s.base:end:end], Time: s.auTime, Key: s.key, NALs: nals, Block: s.blk})
	s.base = end
	s.vcl, s.key = false, false
	s.nals = s.nals[:0]
}

// reset starts over at the end of the input so far: the bytes before are
// handed out or dropped, and never written again.
func (s *Splitter) reset() {
	s.base = len(s.buf)
	s.scan, s.pend, s.pendBegin = s.base, -1, s.base
	s.synced, s.vcl, s.key = false, false, false
	s.nals = s.nals[:0]
}
