package sender

import (
	"os"
	"slices"
	"testing"

	"github.com/camwire/camwire/segment"
	"github.com/camwire/camwire/wire"
)

// TestNALTableOnlyToNewReceivers: the access units the Splitter cut from
// the real test clip reach a 1.3 receiver with their NAL tables, which
// check out against the payloads and list what a search finds; a 1.2
// or 1.0 receiver, which would take a table for the start of the
// payload, gets frames without one, byte for byte as before. (That
// the Splitter's tables list what a search finds is segment's test.)
func TestNALTableOnlyToNewReceivers(t *testing.T) {
	clip, err := os.ReadFile("../capture/testclip.h264")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		minor  uint8
		buffer int // 4 MiB: FrameAU copies each AU out of its 1 MiB block, and its table
	}{{0, 0}, {2, 0}, {wire.MinorNALTable, 0}, {wire.MinorNALTable, 4 << 20}} {
		minor := tc.minor
		rcv := newTestRecv(t, "127.0.0.1:0")
		rcv.minor = minor
		rcv.start()
		s, _ := startSender(t, Config{Addr: rcv.Addr(), Dial: tcpDial, BufferBytes: tc.buffer})
		var sp segment.Splitter
		aus, err := sp.Write(clip, 0)
		if err != nil {
			t.Fatal(err)
		}
		aus = append(aus, sp.Flush()...)
		want := make([][]int, len(aus))
		for i, au := range aus {
			for _, n := range au.NALs {
				want[i] = append(want[i], int(n))
			}
			s.FrameAU(0, au)
		}
		drain(t, s)
		recs, _ := rcv.snapshot()
		if len(recs) != len(aus) {
			t.Fatalf("receiver 1.%d: %d records, want %d", minor, len(recs), len(aus))
		}
		for i, r := range recs {
			f := r.(wire.Frame)
			if minor < wire.MinorNALTable {
				if f.NALs != nil {
					t.Fatalf("receiver 1.%d: frame %d has a NAL table", minor, f.Seq)
				}
				continue
			}
			got, err := f.NALs.AppendStarts(nil, f.Payload)
			if err != nil {
				t.Fatalf("frame %d: %v", f.Seq, err)
			}
			if !slices.Equal(got, want[i]) || len(got) == 0 {
				t.Fatalf("frame %d: table %v, the Splitter found %v", f.Seq, got, want[i])
			}
		}
		rcv.Close()
	}
}
