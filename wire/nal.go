package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// NALTable (1.3) says where the NAL units of a Frame's payload begin, so
// a receiver that needs them one by one (the MP4 sink, which writes each
// with a length in front) does not search the payload for start codes:
// the camera's splitter found every one already when it cut the access
// unit.
//
// Encoding: one unsigned varint (encoding/binary.Uvarint, LEB128) per NAL
// unit, in payload order. The first is the offset in the payload of the
// first NAL unit's header byte, the byte after its start code (3 or 4);
// each further one is the distance from the previous NAL unit's header
// byte to this one's. Deltas keep the table small: a 1080p frame of 8
// slices and an SEI costs ~25 bytes. A table lists every start code of
// the payload, including one at the very end (an offset equal to the
// payload's length).
//
// A receiver must not trust a table: Check (and AppendStarts) verify that
// every offset lies in the payload, that they increase by at least 3, that
// the first is the payload's opening start code and that the three bytes
// before each offset are 00 00 01; that is a few bytes read per NAL unit.
// What is not checked, because it would need the search the table saves,
// is that no start code is missing: a sender that leaves one out makes
// the NAL unit before it hold the next one, which is no worse for the
// receiver than any other broken video the sender could send.
type NALTable []byte

// MaxNALTable is the most bytes a NAL table may have (its length is a
// u16 on the wire); a sender with a longer one sends none.
const MaxNALTable = 1<<16 - 1

// ErrNALTable is wrapped by the errors of Check and AppendStarts.
var ErrNALTable = errors.New("wire: NAL table does not match the payload")

// AppendNALTable appends the encoding of starts, the offsets of each NAL
// unit's header byte in the payload (increasing), to b.
func AppendNALTable(b []byte, starts []uint32) []byte {
	prev := uint32(0)
	for _, s := range starts {
		b = binary.AppendUvarint(b, uint64(s-prev))
		prev = s
	}
	return b
}

// AppendStarts checks t against payload (see NALTable) and appends its
// offsets to dst. On a mismatch it returns dst as given and an error
// wrapping ErrNALTable that says what was wrong.
func (t NALTable) AppendStarts(dst []int, payload []byte) ([]int, error) {
	n0 := len(dst)
	if err := t.walk(payload, &dst); err != nil {
		return dst[:n0], err
	}
	return dst, nil
}

// Check reports whether t fits payload, as AppendStarts does, without
// keeping the offsets.
func (t NALTable) Check(payload []byte) error { return t.walk(payload, nil) }

// walk checks t against payload, appending each offset to *dst unless
// dst is nil.
func (t NALTable) walk(payload []byte, dst *[]int) error {
	prev := 0
	i := 0
	for ; len(t) > 0; i++ {
		d, n := binary.Uvarint(t)
		if n <= 0 {
			return fmt.Errorf("%w: entry %d is not a varint", ErrNALTable, i)
		}
		t = t[n:]
		if d > uint64(len(payload)-prev) {
			return fmt.Errorf("%w: entry %d points past the payload's %d bytes", ErrNALTable, i, len(payload))
		}
		s := prev + int(d)
		switch {
		case i == 0 && s != 3 && !(s == 4 && payload[0] == 0):
			return fmt.Errorf("%w: first NAL unit at %d, not after the opening start code", ErrNALTable, s)
		case i > 0 && d < 3:
			return fmt.Errorf("%w: entry %d only %d bytes after the one before", ErrNALTable, i, d)
		case payload[s-3] != 0 || payload[s-2] != 0 || payload[s-1] != 1:
			return fmt.Errorf("%w: no start code before offset %d", ErrNALTable, s)
		}
		if dst != nil {
			*dst = append(*dst, s)
		}
		prev = s
	}
	if i == 0 {
		return fmt.Errorf("%w: empty", ErrNALTable)
	}
	return nil
}
