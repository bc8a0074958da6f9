// Package recvtest is the fake camera for every test of camwire-recv: a
// scripted Stream that speaks the wire protocol, resumes from the
// receiver's Welcome and waits for acknowledgements, with none of the
// production sender's buffering or reconnect policy; a Camera that sends
// each frame when the test says; Handshake for senders that ignore the
// Welcome; and connections cut or paced at exact byte counts. Tests of
// other packages use it against an in-process recv.Server or the
// camwire-recv binary alike.
package recvtest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"net"
	"sync"
	"time"

	"github.com/camwire/camwire/wire"
)

// Stream is one scripted sender run: a hello and its sequenced records.
type Stream struct {
	Hello   wire.Hello
	Key     []byte        // shared key; nil sends an empty Auth
	Records []wire.Record // Frame, SegmentEnd, Gap in sequence order from 1, no holes
	// Notices receives the receiver's Notice messages, if set. Sends
	// never block the connection: a full channel drops the notice.
	Notices chan string
	// OnAck, if set, is called with every acknowledged seq, in order.
	OnAck func(seq uint64)
}

// Result is what one connection achieved.
type Result struct {
	Welcome uint64 // Welcome.Acked: where the receiver said to resume
	Acked   uint64 // highest Ack received
	Reject  string // Reject.Reason, if refused
}

// ErrRejected wraps a Reject's reason.
var ErrRejected = errors.New("rejected by receiver")

// Last is the highest sequence number of the stream.
func (s *Stream) Last() uint64 {
	if len(s.Records) == 0 {
		return 0
	}
	return wire.SeqOf(s.Records[len(s.Records)-1])
}

// after returns the records with a sequence number above acked.
func (s *Stream) after(acked uint64) []wire.Record {
	for i, r := range s.Records {
		if wire.SeqOf(r) > acked {
			return s.Records[i:]
		}
	}
	return nil
}

// Run speaks one connection over c: handshake, then the records after
// Welcome.Acked, then waits until the last one is acknowledged, c fails,
// or timeout passes. It closes c.
func (s *Stream) Run(c net.Conn, timeout time.Duration) (Result, error) {
	defer c.Close()
	var res Result
	c.SetDeadline(time.Now().Add(timeout))
	bw := bufio.NewWriterSize(c, 256<<10)
	// Protocol 1.1: a scripted stream has no capture clock to answer
	// pings with (its files are named by arrival time).
	buf := wire.AppendPreambleMinor(nil, 1)
	buf = wire.Append(buf, s.Hello)
	if _, err := c.Write(buf); err != nil {
		return res, err
	}
	rd := wire.NewReader(c, wire.Limits{})
	r, err := rd.Next()
	if err != nil {
		return res, fmt.Errorf("waiting for challenge: %w", err)
	}
	if rj, ok := r.(wire.Reject); ok {
		res.Reject = rj.Reason
		return res, fmt.Errorf("%w: %s", ErrRejected, rj.Reason)
	}
	ch, ok := r.(wire.Challenge)
	if !ok {
		return res, fmt.Errorf("got %s, want challenge", r.Type())
	}
	var auth wire.Auth
	if s.Key != nil {
		mac := wire.MAC(s.Key, ch.Nonce, s.Hello.StreamID, s.Hello.Name)
		auth.MAC = mac[:]
	}
	if err := wire.Write(c, auth); err != nil {
		return res, err
	}
	r, err = rd.Next()
	if err != nil {
		return res, fmt.Errorf("waiting for welcome: %w", err)
	}
	switch v := r.(type) {
	case wire.Reject:
		res.Reject = v.Reason
		return res, fmt.Errorf("%w: %s", ErrRejected, v.Reason)
	case wire.Welcome:
		res.Welcome, res.Acked = v.Acked, v.Acked
	default:
		return res, fmt.Errorf("got %s, want welcome", r.Type())
	}
	if res.Welcome > s.Last() {
		return res, fmt.Errorf("welcome acked %d, stream has only %d records", res.Welcome, s.Last())
	}

	var mu sync.Mutex
	allAcked := make(chan struct{})
	readDone := make(chan error, 1)
	acked := res.Acked
	if acked == s.Last() {
		close(allAcked)
	}
	go func() {
		for {
			r, err := rd.Next()
			if err != nil {
				readDone <- err
				return
			}
			switch v := r.(type) {
			case wire.Ack:
				mu.Lock()
				if v.Seq > acked {
					acked = v.Seq
					if s.OnAck != nil {
						s.OnAck(v.Seq)
					}
					if acked == s.Last() {
						close(allAcked)
					}
				}
				mu.Unlock()
			case wire.Notice:
				if s.Notices != nil {
					select {
					case s.Notices <- v.Message:
					default:
					}
				}
			case wire.Reject:
				readDone <- fmt.Errorf("%w: %s", ErrRejected, v.Reason)
				return
			}
		}
	}()
	get := func() uint64 {
		mu.Lock()
		defer mu.Unlock()
		return acked
	}
	var hdr []byte
	for _, r := range s.after(res.Welcome) {
		if f, ok := r.(wire.Frame); ok {
			hdr = wire.AppendFrameHeader(hdr[:0], f)
			bw.Write(hdr)
			bw.Write(f.Payload) // bufio's error is sticky: Flush reports it
		} else {
			hdr = wire.Append(hdr[:0], r)
			bw.Write(hdr)
		}
	}
	if err := bw.Flush(); err != nil {
		res.Acked = get()
		return res, err
	}
	select {
	case <-allAcked:
		res.Acked = get()
		return res, nil
	case err := <-readDone:
		res.Acked = get()
		if res.Acked == s.Last() {
			return res, nil
		}
		return res, err
	}
}

// Script builds a stream of segments with frames of random sizes from
// seed. Each segment starts with a key frame and ends with a SegmentEnd,
// except that with implicitEnd the second segment has none (the next
// segment's first frame ends it), and with gap a Gap replaces two frames
// in the middle of the first segment.
func Script(name string, seed int64, segments, frames, maxFrame int, gap, implicitEnd bool) *Stream {
	rng := rand.New(rand.NewSource(seed))
	s := &Stream{Hello: wire.Hello{Name: name, Codec: "h264", Width: 1920, Height: 1080, FPSNum: 30, FPSDen: 1}}
	rng.Read(s.Hello.StreamID[:])
	var seq uint64
	for g := 0; g < segments; g++ {
		for i := 0; i < frames; i++ {
			if gap && g == 0 && i == frames/2 {
				seq += 2
				s.Records = append(s.Records, wire.Gap{Seq: seq, First: seq - 1, Frames: 2})
				continue
			}
			seq++
			p := make([]byte, 5+rng.Intn(maxFrame))
			copy(p, []byte{0, 0, 0, 1, 0x41})
			if i == 0 {
				p[4] = 0x65
			}
			rng.Read(p[5:])
			s.Records = append(s.Records, wire.Frame{Seq: seq, Segment: uint32(g), TimeUS: int64(seq) * 33333, Key: i == 0, Payload: p})
		}
		if implicitEnd && g == 1 && g != segments-1 {
			continue
		}
		seq++
		s.Records = append(s.Records, wire.SegmentEnd{Seq: seq, Segment: uint32(g), Frames: uint32(frames)})
	}
	return s
}

// Want returns the content each segment's file must have, in order: its
// frames' payloads back to back.
func (s *Stream) Want() [][]byte {
	var out [][]byte
	var cur *bytes.Buffer
	var seg uint32
	for _, r := range s.Records {
		f, ok := r.(wire.Frame)
		if !ok {
			continue
		}
		if cur == nil || f.Segment != seg {
			if cur != nil {
				out = append(out, cur.Bytes())
			}
			cur, seg = &bytes.Buffer{}, f.Segment
		}
		cur.Write(f.Payload)
	}
	if cur != nil {
		out = append(out, cur.Bytes())
	}
	return out
}

// CutConn closes the connection after N bytes have been written through
// it: a cable pulled at an exact byte offset.
type CutConn struct {
	net.Conn
	N int
}

var errCut = errors.New("recvtest: connection cut")

func (c *CutConn) Write(b []byte) (int, error) {
	if c.N <= 0 {
		c.Conn.Close()
		return 0, errCut
	}
	if len(b) > c.N {
		n, _ := c.Conn.Write(b[:c.N])
		c.N = 0
		c.Conn.Close()
		return n, errCut
	}
	n, err := c.Conn.Write(b)
	c.N -= n
	return n, err
}

// PacedConn writes at most Every bytes at a time with Pause after each: a
// camera's pace, or a slow link, for tests of what the receiver does while
// a stream trickles in.
type PacedConn struct {
	net.Conn
	Every int
	Pause time.Duration
}

func (c *PacedConn) Write(b []byte) (int, error) {
	var n int
	for len(b) > 0 {
		k := min(len(b), c.Every)
		m, err := c.Conn.Write(b[:k])
		n += m
		if err != nil {
			return n, err
		}
		b = b[k:]
		time.Sleep(c.Pause)
	}
	return n, nil
}
