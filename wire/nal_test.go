package wire

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNALTableCheck(t *testing.T) {
	// Two NAL units after a 4-byte and a 3-byte start code, and a bare
	// start code at the very end.
	au := []byte{0, 0, 0, 1, 0x67, 0xaa, 0, 0, 1, 0x65, 0xbb, 0xcc, 0, 0, 1}
	tests := []struct {
		name   string
		starts []uint32
		raw    NALTable // used when starts is nil
		want   []int    // nil: a mismatch
	}{
		{"every start", []uint32{4, 9, 15}, nil, []int{4, 9, 15}},
		{"without the bare end", []uint32{4, 9}, nil, []int{4, 9}},
		{"first after the 3 zero bytes", []uint32{3}, nil, nil},
		{"first past the opening start code", []uint32{9}, nil, nil},
		{"no start code before", []uint32{4, 10}, nil, nil},
		{"past the end", []uint32{4, 9, 16}, nil, nil},
		{"far past the end", []uint32{4, 1 << 31}, nil, nil},
		{"not increasing", []uint32{4, 9, 9}, nil, nil},
		{"backwards", []uint32{4, 9, 4}, nil, nil}, // wraps to a huge delta
		{"empty", nil, NALTable{}, nil},
		{"cut varint", nil, NALTable{4, 0x85}, nil},
		{"overlong varint", nil, NALTable{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := tt.raw
			if tt.starts != nil {
				tab = AppendNALTable(nil, tt.starts)
			}
			got, err := tab.AppendStarts([]int{-1}, au)
			if tt.want == nil {
				if !errors.Is(err, ErrNALTable) || len(got) != 1 {
					t.Errorf("AppendStarts() = %v, %v; want [-1] and ErrNALTable", got, err)
				}
				if tab.Check(au) == nil {
					t.Error("Check() = nil, want an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("AppendStarts() error = %v", err)
			}
			if diff := cmp.Diff(append([]int{-1}, tt.want...), got); diff != "" {
				t.Errorf("AppendStarts() (-want +got):\n%s", diff)
			}
			if err := tab.Check(au); err != nil {
				t.Errorf("Check() = %v", err)
			}
		})
	}
	if err := NALTable(AppendNALTable(nil, []uint32{3})).Check([]byte{0, 0, 1, 0x65}); err != nil {
		t.Errorf("3-byte opening start code: %v", err)
	}
}

// TestFrameHeaderStarts: the sender's encoder makes the same bytes as
// Append with the table, and leaves out a table that does not fit.
func TestFrameHeaderStarts(t *testing.T) {
	payload := []byte{0, 0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x65, 1, 2, 3}
	starts := []uint32{4, 9}
	f := Frame{Seq: 5, Segment: 2, TimeUS: 99, Key: true, Payload: payload}
	got := append(AppendFrameHeaderStarts(nil, f, starts, 0), payload...)
	withTable := f
	withTable.NALs = AppendNALTable(nil, starts)
	if want := Append(nil, withTable); !bytes.Equal(got, want) {
		t.Errorf("with table: %x, want %x", got, want)
	}
	plain := Append(nil, f)
	if got := append(AppendFrameHeaderStarts(nil, f, nil, 0), payload...); !bytes.Equal(got, plain) {
		t.Errorf("no starts: %x, want %x", got, plain)
	}
	// Payload plus table over the frame limit: no table.
	if got := append(AppendFrameHeaderStarts(nil, f, starts, len(payload)+3), payload...); !bytes.Equal(got, plain) {
		t.Errorf("over the frame limit: %x, want %x", got, plain)
	}
	if got := append(AppendFrameHeaderStarts(nil, f, starts, len(payload)+4), payload...); !bytes.Equal(got, Append(nil, withTable)) {
		t.Errorf("at the frame limit: %x, want the table", got)
	}
	// A table over MaxNALTable bytes: a start every 3 bytes of a big
	// payload, 1 byte each.
	big := bytes.Repeat([]byte{0, 0, 1}, MaxNALTable+1)
	many := make([]uint32, MaxNALTable+1)
	for i := range many {
		many[i] = uint32(3 * (i + 1))
	}
	fb := Frame{Seq: 1, Payload: big}
	if got, want := AppendFrameHeaderStarts(nil, fb, many, 0), AppendFrameHeader(nil, fb); !bytes.Equal(got, want) {
		t.Errorf("table over MaxNALTable: header %x, want %x", got, want)
	}
	if err := NALTable(AppendNALTable(nil, many)).Check(big); err != nil {
		t.Errorf("dense table: %v", err)
	}
}

// FuzzNALTable: whatever the table and payload, Check never panics, and
// every offset it accepts lies in the payload after a start code.
func FuzzNALTable(f *testing.F) {
	f.Add([]byte{4, 5, 6}, []byte{0, 0, 0, 1, 0x67, 0xaa, 0, 0, 1, 0x65, 0xbb, 0xcc, 0, 0, 1})
	f.Add([]byte{3}, []byte{0, 0, 1})
	f.Add([]byte{0xff, 0x01}, []byte{0, 0, 1})
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, tab, payload []byte) {
		starts, err := NALTable(tab).AppendStarts(nil, payload)
		if (err == nil) != (NALTable(tab).Check(payload) == nil) {
			t.Fatalf("AppendStarts and Check disagree: %v", err)
		}
		if err != nil {
			return
		}
		prev := 0
		for _, s := range starts {
			if s < prev+3 || s > len(payload) || !bytes.Equal(payload[s-3:s], []byte{0, 0, 1}) {
				t.Fatalf("accepted offset %d (previous %d) in %x", s, prev, payload)
			}
			prev = s
		}
	})
}
