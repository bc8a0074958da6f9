package sender

import (
	"bytes"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/camwire/camwire/segment"
	"github.com/camwire/camwire/wire"
)

// throughPair connects a Sender's outlet to a TCP peer as a session does
// after the Welcome, without the writer goroutine: what reaches peer was
// written by write-through alone.
func throughPair(t *testing.T, s *Sender) (o *outlet, client, peer net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	peer, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	// A safety net, not a measurement: a test that waits for records
	// nobody writes fails instead of hanging.
	peer.SetReadDeadline(time.Now().Add(time.Minute))
	o = &outlet{raw: newRawConn(client)}
	if o.raw == nil {
		t.Skip("no write-through on this OS")
	}
	s.mu.Lock()
	s.out = o
	s.mu.Unlock()
	return o, client, peer
}

// blockAU is an access unit of n bytes (first byte i) in blk, holding a
// reference to it, as the Splitter hands them out.
func blockAU(blk *segment.Block, off, n int, i byte, key bool) segment.AU {
	d := blk.Bytes()[off : off+n : off+n]
	d[0] = i
	blk.Retain()
	return segment.AU{Data: d, Block: blk, Key: key}
}

// TestWriteThrough: with nobody else writing, the goroutine that queues a
// frame writes it itself, so frames reach the receiver in order and
// complete with no writer goroutine running, and the connection is free
// again after each.
func TestWriteThrough(t *testing.T) {
	s := newBufferSender(t, 64<<20)
	o, _, peer := throughPair(t, s)
	blk := segment.NewBlock(1 << 20)
	const n = 20
	for i := range n {
		s.FrameAU(0, blockAU(blk, i*4096, 4096, byte(i), i == 0))
	}
	s.EndSegment(0, n)
	s.mu.Lock()
	busy, handed := o.busy, o.handed
	s.mu.Unlock()
	if busy || handed {
		t.Errorf("after the frames: busy=%v handed=%v, want both false", busy, handed)
	}
	rd := wire.NewReader(peer, wire.Limits{})
	var got []string
	for range n + 1 {
		r, err := rd.Next()
		if err != nil {
			t.Fatalf("record %d: %v", len(got), err)
		}
		switch v := r.(type) {
		case wire.Frame:
			got = append(got, fmt.Sprintf("frame %d len %d first %d", v.Seq, len(v.Payload), v.Payload[0]))
		case wire.SegmentEnd:
			got = append(got, fmt.Sprintf("end %d frames %d", v.Seq, v.Frames))
		default:
			t.Fatalf("unexpected %s", r.Type())
		}
	}
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("frame %d len 4096 first %d", i+1, i))
	}
	want = append(want, fmt.Sprintf("end %d frames %d", n+1, n))
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("records at the receiver (-want +got):\n%s", d)
	}
}

// TestWriteThroughHandsOver: when the socket takes only part of a batch,
// write-through hands the rest to the writer goroutine, which sends it
// once the receiver reads; nothing is lost or reordered, and Frame never
// waits for the receiver meanwhile.
func TestWriteThroughHandsOver(t *testing.T) {
	s := newBufferSender(t, 64<<20)
	o, client, peer := throughPair(t, s)
	// A small send buffer and a peer that reads nothing yet: the socket
	// fills within a few frames.
	if err := client.(*net.TCPConn).SetWriteBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
	if err := peer.(*net.TCPConn).SetReadBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
	const n, size = 64, 64 << 10
	blk := segment.NewBlock(n * size)
	for i := range n {
		s.FrameAU(0, blockAU(blk, i*size, size, byte(i), i == 0)) // returns: the receiver reads nothing
	}
	s.mu.Lock()
	handed := o.handed
	s.mu.Unlock()
	if !handed {
		t.Fatal("write-through handed nothing to the writer with a full socket")
	}
	done := make(chan struct{})
	errc := make(chan error, 1)
	go func() { errc <- s.writeLoop(client, o, done) }()
	defer func() {
		close(done)
		if err := <-errc; err != nil {
			t.Errorf("writeLoop: %v", err)
		}
	}()
	rd := wire.NewReader(peer, wire.Limits{})
	seq := uint64(0)
	for seq < n {
		r, err := rd.Next()
		if err != nil {
			t.Fatalf("after frame %d: %v", seq, err)
		}
		f, ok := r.(wire.Frame)
		if !ok {
			continue // the writer's Stats
		}
		want := bytes.Repeat([]byte{0}, size)
		want[0] = byte(seq)
		if f.Seq != seq+1 || !bytes.Equal(f.Payload, want) {
			t.Fatalf("frame %d (len %d): want frame %d with its payload", f.Seq, len(f.Payload), seq+1)
		}
		seq = f.Seq
	}
}

// TestFrameAUWriteAllocs: in steady state (connection up, socket with
// room, records acknowledged) queueing and writing a frame of a block
// allocates nothing.
func TestFrameAUWriteAllocs(t *testing.T) {
	s := newBufferSender(t, 64<<20)
	_, _, peer := throughPair(t, s)
	go func() {
		buf := make([]byte, 1<<20)
		for {
			if _, err := peer.Read(buf); err != nil {
				return
			}
		}
	}()
	blk := segment.NewBlock(1 << 20)
	nals := []uint32{4, 100}
	i := 0
	frame := func() {
		au := blockAU(blk, (i%200)*4096, 4096, byte(i), i%30 == 0)
		au.NALs = nals
		s.FrameAU(0, au)
		i++
		if i%10 == 0 {
			s.mu.Lock()
			s.freeTo(s.written)
			s.mu.Unlock()
		}
	}
	for range 300 { // grows the queue, the batch and the scratch once
		frame()
	}
	// AllocsPerRun rounds down: the acks' new Drain and Changed
	// channels (2 every tenth frame) do not count, one allocation a
	// frame does.
	if got := testing.AllocsPerRun(300, frame); got != 0 {
		t.Errorf("%v allocations a frame, want 0", got)
	}
	if c := s.Counters(); c.Sent != c.Captured {
		t.Errorf("%v: write-through did not send every frame", c)
	}
}
