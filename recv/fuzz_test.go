package recv

import (
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	"github.com/camwire/camwire/recv/recvtest"
	"github.com/camwire/camwire/wire"
)

// scriptFromOps turns fuzz bytes into a valid sender run plus cut
// offsets: each byte is one step — a frame (some with a NAL table that
// fits, some with one that does not), a segment-end, a segment that
// ends implicitly, a gap, or a connection cut.
func scriptFromOps(ops []byte) (*recvtest.Stream, []int) {
	st := &recvtest.Stream{Hello: wire.Hello{Name: "fuzz", Codec: "h264", StreamID: [16]byte{1}}}
	var seq uint64
	var seg, frameSeg uint32
	open := false       // the current segment has frames
	unfinished := false // some segment has frames and no segment-end yet
	var cuts []int
	for i, op := range ops {
		switch op % 8 {
		case 0, 1, 2, 3:
			seq++
			p := make([]byte, 4+int(op)%61)
			binary.BigEndian.PutUint32(p, uint32(i))
			f := wire.Frame{Seq: seq, Segment: seg, Key: !open, Payload: p}
			switch op % 8 {
			case 2: // 1.3: a NAL table that fits
				f.Payload = append([]byte{0, 0, 1}, p...)
				f.NALs = wire.NALTable{3}
			case 3: // one that does not: stored all the same
				f.NALs = wire.NALTable{op, 0xff, byte(i)}
			}
			st.Records = append(st.Records, f)
			open, unfinished, frameSeg = true, true, seg
		case 4:
			seq++
			st.Records = append(st.Records, wire.SegmentEnd{Seq: seq, Segment: seg})
			if frameSeg == seg {
				unfinished = false
			}
			seg++
			open = false
		case 5:
			seg++ // the next frame ends the open segment implicitly
			open = false
		case 6:
			n := uint64(1 + op/8%3)
			st.Records = append(st.Records, wire.Gap{Seq: seq + n, First: seq + 1, Frames: uint32(n)})
			seq += n
		case 7:
			cuts = append(cuts, 1+int(op)*37)
		}
	}
	if unfinished {
		seq++
		st.Records = append(st.Records, wire.SegmentEnd{Seq: seq, Segment: frameSeg})
	}
	return st, cuts
}

// FuzzSession drives the receiver's session state machine with arbitrary
// valid record sequences cut at arbitrary byte offsets: whatever the
// order of frames, segment ends, implicit ends, gaps and reconnects, the
// files must hold every frame once, in order, one file per segment.
func FuzzSession(f *testing.F) {
	f.Add([]byte{0, 1, 2, 4, 0, 0, 5, 1, 1, 4})
	f.Add([]byte{0, 7, 1, 6, 2, 15, 3, 4, 12, 7, 0, 5, 0, 23, 4, 4})
	f.Add([]byte{6, 14, 0, 0, 0, 0, 7, 7, 7, 1, 2, 3, 5, 3, 2, 1, 4})
	f.Add([]byte{4, 5, 4, 0})
	f.Add([]byte{2, 10, 3, 7, 2, 2, 11, 4, 3, 2, 15, 18})   // NAL tables, cut inside them
	f.Add([]byte{2, 3, 2, 3, 7, 2, 3, 4, 26, 27, 39, 7, 4}) // and across reconnects
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 200 {
			return
		}
		st, cuts := scriptFromOps(ops)
		if st.Last() == 0 {
			return
		}
		dir := t.TempDir()
		ts := startServer(t, dir, func(s *Server) { s.SyncBytes = 64 })
		for i := 0; ; i++ {
			if i > len(cuts)+50 {
				t.Fatalf("no completion after %d connections", i)
			}
			c := ts.dial(t)
			var err error
			if i < len(cuts) {
				_, err = st.Run(&recvtest.CutConn{Conn: c, N: cuts[i]}, 5*time.Second)
			} else {
				_, err = st.Run(c, 5*time.Second)
			}
			if err == nil {
				break
			}
			if i >= len(cuts) {
				t.Fatalf("uncut connection: %v", err)
			}
		}
		ts.stop(t)
		checkSegments(t, filepath.Join(dir, "fuzz"), st.Want())
	})
}
