package wire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
)

// TestReadPayloadsInto: with ReadPayloadsInto, every Frame's Payload is
// the buffer get returned, filled with the frame's bytes, and no later
// Next writes to it: all records read first and compared afterwards must
// still be intact. Records already in the bufio.Reader (what the
// handshake's reads buffered) come first, then the raw stream.
func TestReadPayloadsInto(t *testing.T) {
	big := bytes.Repeat([]byte{0, 0, 1, 0x65, 7}, 30000) // past any buffer, several reads
	recs := []Record{
		Frame{Seq: 1, Key: true, Payload: []byte{0, 0, 0, 1, 0x65, 1, 2}},
		Stats{Captured: 1, TempMilliC: TempUnknown},
		Frame{Seq: 2, Payload: []byte{}},
		Frame{Seq: 3, Segment: 1, TimeUS: 9, Payload: big},
		Frame{Seq: 4, Payload: bytes.Repeat([]byte{3}, directHead-frameHeaderLen-recordHeaderLen)},
		Frame{Seq: 5, Payload: bytes.Repeat([]byte{4}, directHead+1)},
		SegmentEnd{Seq: 6, Segment: 1, Frames: 4},
		// 1.3: the NAL table is read into the payload's buffer, after it.
		Frame{Seq: 7, Payload: big, NALs: AppendNALTable(nil, []uint32{3, 8, 13})},
		Frame{Seq: 8, Payload: []byte{0, 0, 1, 9}, NALs: NALTable{3}},
		Frame{Seq: 9, Payload: []byte{}, NALs: NALTable{}},
	}
	var stream []byte
	for _, r := range recs {
		stream = Append(stream, r)
	}
	for _, pre := range []int{0, 3, recordHeaderLen + frameHeaderLen + 2, len(stream)} {
		// A bufio.Reader that holds the first pre bytes, as after a
		// handshake whose reads buffered past its last record; the rest
		// comes from the connection, in pieces.
		br := bufio.NewReaderSize(bytes.NewReader(stream[:pre]), max(64<<10, pre))
		if pre > 0 {
			if _, err := br.Peek(pre); err != nil {
				t.Fatal(err)
			}
		}
		raw := iotestHalf{bytes.NewReader(stream[pre:])}
		rd := NewReader(br, Limits{})
		var given [][]byte
		rd.ReadPayloadsInto(func(n int) []byte {
			b := make([]byte, n)
			given = append(given, b)
			return b
		}, raw)
		var got []Record
		for {
			r, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("pre %d: Next() error = %v", pre, err)
			}
			got = append(got, r)
		}
		if diff := cmp.Diff(recs, got, cmp.Comparer(bytes.Equal)); diff != "" {
			t.Errorf("pre %d: records (-want +got):\n%s", pre, diff)
		}
		i := 0
		for _, r := range got {
			if f, ok := r.(Frame); ok {
				if i >= len(given) || len(f.Payload) > 0 && unsafe.SliceData(f.Payload) != unsafe.SliceData(given[i]) {
					t.Errorf("pre %d: frame %d's payload is not the buffer get returned", pre, f.Seq)
				}
				i++
			}
		}
		if i != len(given) {
			t.Errorf("pre %d: get called %d times for %d frames", pre, len(given), i)
		}
	}
}

// TestReadPayloadsIntoErrors: a frame over the limit is refused before
// get is asked for its buffer, and one cut short is ErrUnexpectedEOF.
func TestReadPayloadsIntoErrors(t *testing.T) {
	f := Append(nil, Frame{Seq: 1, Payload: make([]byte, 2000)})
	tests := []struct {
		name    string
		in      []byte
		want    error
		wantGet int
	}{
		{"over the limit", f, ErrTooLarge, 0},
		{"cut in the payload", f[:len(f)-1], io.ErrUnexpectedEOF, 1},
		{"cut in the frame header", f[:recordHeaderLen+3], io.ErrUnexpectedEOF, 0},
		{"NAL table longer than the body", tableClaims(3000, 2000), ErrMalformed, 0},
		{"cut in the NAL table", tableClaims(300, 2000)[:recordHeaderLen+frameHeaderLen+2+10], io.ErrUnexpectedEOF, 1},
		{"no room for the table length", noRoomForTable(), ErrMalformed, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := Limits{MaxFrame: 4096}
			if tt.want == ErrTooLarge {
				lim.MaxFrame = 1024
			}
			rd := NewReader(bufio.NewReader(bytes.NewReader(nil)), lim)
			gets := 0
			rd.ReadPayloadsInto(func(n int) []byte { gets++; return make([]byte, n) }, bytes.NewReader(tt.in))
			if _, err := rd.Next(); !errors.Is(err, tt.want) {
				t.Errorf("Next() error = %v, want %v", err, tt.want)
			}
			if gets != tt.wantGet {
				t.Errorf("get called %d times, want %d", gets, tt.wantGet)
			}
		})
	}
}

// tableClaims is a Frame with a NAL table that says it is tab bytes long
// and a body of n bytes after the table's length.
func tableClaims(tab uint16, n int) []byte {
	b := AppendFrameHeader(nil, Frame{Seq: 1, Payload: make([]byte, n)})
	b[len(b)-1] |= flagNALs
	binary.BigEndian.PutUint32(b[1:], uint32(frameHeaderLen+2+n))
	b = binary.BigEndian.AppendUint16(b, tab)
	return append(b, make([]byte, n)...)
}

// noRoomForTable is a Frame that says a NAL table follows but has one
// byte left for the table's two-byte length.
func noRoomForTable() []byte {
	b := tableClaims(0, 0)[:recordHeaderLen+frameHeaderLen+1]
	binary.BigEndian.PutUint32(b[1:], frameHeaderLen+1)
	return b
}

// iotestHalf returns at most half of what each Read asks for (at least
// one byte), as a socket does when data trickles in.
type iotestHalf struct{ r io.Reader }

func (h iotestHalf) Read(p []byte) (int, error) {
	return h.r.Read(p[:max(1, len(p)/2)])
}

// TestNextFrameAllocs: with ReadPayloadsInto, a Frame costs one
// allocation, the Record interface's box: the header bytes read through
// an io.Reader are the Reader's own, not per-record garbage (a camera-paced
// receiver reads 30 frames a second, each finding the collector's
// caches cold).
func TestNextFrameAllocs(t *testing.T) {
	payload := bytes.Repeat([]byte{0, 0, 1, 0x41}, 1000)
	rec := Append(nil, Frame{Seq: 1, Payload: payload, NALs: AppendNALTable(nil, []uint32{3})})
	src := bytes.NewReader(nil)
	rd := NewReader(bufio.NewReader(src), Limits{})
	buf := make([]byte, len(payload)+8)
	rd.ReadPayloadsInto(func(n int) []byte { return buf[:n] }, src)
	allocs := testing.AllocsPerRun(100, func() {
		src.Reset(rec)
		if _, err := rd.Next(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Errorf("Next() of a frame: %.1f allocations, want at most 1", allocs)
	}
}
