package sender

import (
	"fmt"
	"net"
	"time"

	"github.com/camwire/camwire/wire"
)

// Batch bounds: a batch is what the writer takes under the lock and hands
// to one writev, so they bound both lock hold time and how long one write
// may take before its deadline means the receiver is gone.
const (
	maxBatchRecords = 256
	maxBatchBytes   = 1 << 20
)

// batch is the writer's reusable scratch: record headers are encoded into
// hdr and payloads referenced, so an access unit is never copied again.
type batch struct {
	hdr    []byte
	parts  []part
	bufs   net.Buffers // backing array reused across batches
	w      net.Buffers // consumed by WriteTo; a field so it does not escape per write
	frames uint64
	bytes  int
	// nals: the receiver reads NAL tables (its Challenge.Minor is at
	// least wire.MinorNALTable), so frames that have one carry it.
	nals bool
}

// part is hdr[off:end] followed by payload (nil for control records).
type part struct {
	off, end int
	payload  []byte
}

func (b *batch) reset() {
	b.hdr, b.parts, b.frames, b.bytes = b.hdr[:0], b.parts[:0], 0, 0
}

func (b *batch) control(r wire.Record) {
	off := len(b.hdr)
	b.hdr = wire.Append(b.hdr, r)
	b.parts = append(b.parts, part{off: off, end: len(b.hdr)})
}

// add encodes one queued record.
func (b *batch) add(r *rec) {
	switch r.kind {
	case kindFrame:
		off := len(b.hdr)
		f := wire.Frame{Seq: r.seq, Segment: r.segment, TimeUS: r.timeUS, Key: r.key, Payload: r.payload}
		if b.nals && r.nals != nil {
			b.hdr = wire.AppendFrameHeaderStarts(b.hdr, f, r.nals, 0)
		} else {
			b.hdr = wire.AppendFrameHeader(b.hdr, f)
		}
		b.parts = append(b.parts, part{off: off, end: len(b.hdr), payload: r.payload})
		b.frames++
		b.bytes += len(r.payload)
	case kindSegmentEnd:
		b.control(wire.SegmentEnd{Seq: r.seq, Segment: r.segment, Frames: r.frames})
	case kindGap:
		b.control(wire.Gap{Seq: r.seq, First: r.first, Frames: r.frames})
	}
}

// iovecs turns parts into buffers for one writev, joining adjacent header
// bytes into one buffer.
func (b *batch) iovecs() net.Buffers {
	v := b.bufs[:0]
	start := -1
	for _, p := range b.parts {
		if start < 0 {
			start = p.off
		}
		if p.payload != nil {
			v = append(v, b.hdr[start:p.end], p.payload)
			start = -1
		}
	}
	if start >= 0 {
		v = append(v, b.hdr[start:])
	}
	b.bufs = v
	return v
}

// outlet is the writing side of one connection, shared by the writer
// goroutine and write-through; its fields are under s.mu. Whoever sets
// busy writes to the connection, so records go out in order.
//
// Write-through: the goroutine that queues a frame (Frame, FrameAU,
// EndSegment: the capture's) gathers and writes it itself when nobody
// is writing, with one non-blocking writev (raw.writev). At camera pace
// the socket always has room for a frame, so each frame costs one system
// call and no wake-up of the writer goroutine: handing every frame to it
// cost a goroutine switch and, with an idle processor, a thread woken
// through a futex, per frame. When the socket takes only part of the
// batch (or fails), the rest is handed to the writer goroutine, which
// waits for the socket under the write deadline and reports the error:
// Frame still never waits for the network.
type outlet struct {
	raw        *rawConn    // nil: the connection has no descriptor; no write-through
	busy       bool        // a goroutine is writing to the connection
	handed     bool        // rest is the write-through's remainder, for the writer goroutine
	wantWriter bool        // the writer goroutine found busy set and waits for a poke
	rest       net.Buffers // with handed
	b          batch       // the write-through's batch
}

// claimThrough claims the connection for a write-through of what is
// queued and gathers it; nil when the writer goroutine must do it (busy,
// no descriptor, window full). s.mu is held.
func (s *Sender) claimThrough() *outlet {
	o := s.out
	if o == nil || o.raw == nil || o.busy || s.wi >= s.q.len() || s.pinned >= s.window {
		return nil
	}
	o.busy = true
	o.b.reset()
	s.gatherLocked(&o.b)
	return o
}

// writeThrough writes o.b with one non-blocking writev and releases o,
// or hands the remainder to the writer goroutine. s.mu is not held.
func (s *Sender) writeThrough(o *outlet) {
	v := o.b.iovecs()
	n, err := o.raw.writev(v)
	rest := consume(v, n)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.out != o:
		// The connection ended meanwhile; the next one resumes from the
		// receiver's Welcome and sends these again.
		clear(o.b.bufs)
	case len(rest) == 0 && err == nil:
		clear(o.b.bufs) // drop payload references; acked ones may be freed
		o.busy = false
		if o.wantWriter {
			o.wantWriter = false
			s.poke()
		}
	default:
		o.rest, o.handed = rest, true // busy stays set: it passes to the writer goroutine
		s.poke()
	}
}

// consume drops the first n bytes of v and returns what is left.
func consume(v net.Buffers, n int) net.Buffers {
	for len(v) > 0 && n >= len(v[0]) {
		n -= len(v[0])
		v = v[1:]
	}
	if len(v) > 0 {
		v[0] = v[0][n:]
	}
	return v
}

// writeLoop sends queued records in order, plus Logs and Stats, until the
// connection fails or done closes. It shares the connection with
// write-through (o).
func (s *Sender) writeLoop(conn net.Conn, o *outlet, done <-chan struct{}) error {
	tick := time.NewTicker(s.cfg.StatsEvery)
	defer tick.Stop()
	statsDue := true // one right away, so the receiver sees the state at once
	s.mu.Lock()
	minor := s.peerMinor
	s.mu.Unlock()
	b := &batch{nals: minor >= wire.MinorNALTable}
	reportSent := false
	release := func() {
		s.mu.Lock()
		o.busy = false
		s.mu.Unlock()
	}
	wait := func() bool {
		select {
		case <-done:
			return false
		case <-s.wake:
		case <-tick.C:
			statsDue = true
		}
		return true
	}
	for {
		s.mu.Lock()
		if o.handed {
			rest := o.rest
			o.rest, o.handed = nil, false
			s.mu.Unlock()
			err := s.write(conn, b, rest)
			clear(o.b.bufs)
			release()
			if err != nil {
				return err
			}
			continue
		}
		if o.busy {
			o.wantWriter = true
			s.mu.Unlock()
			if !wait() {
				return nil
			}
			continue
		}
		o.busy, o.wantWriter = true, false
		s.mu.Unlock()
		b.reset()
		if statsDue {
			b.control(s.stats())
			statsDue = false
		}
		if r, ok := s.reportFor(minor, &reportSent); ok {
			b.control(r)
		}
		s.gather(b)
		if len(b.parts) == 0 {
			release()
			if !wait() {
				return nil
			}
			continue
		}
		err := s.write(conn, b, b.iovecs())
		clear(b.bufs) // drop payload references; acked ones may be freed
		release()
		if err != nil {
			return err
		}
		select {
		case <-tick.C:
			statsDue = true
		default:
		}
	}
}

// write writes v to conn, waiting for the socket at most the write
// timeout; b.w (a field, so v does not escape per write) is its scratch.
func (s *Sender) write(conn net.Conn, b *batch, v net.Buffers) error {
	if err := conn.SetWriteDeadline(time.Now().Add(s.writeTimeout)); err != nil {
		return err
	}
	b.w = v
	_, err := b.w.WriteTo(conn)
	b.w = nil
	if err != nil {
		return fmt.Errorf("writing to receiver: %w", err)
	}
	return nil
}

// gather moves queued Logs and the next unwritten records into b. Records
// become pinned here, before the write: from now on the receiver may have
// them, so they must never be dropped.
func (s *Sender) gather(b *batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gatherLocked(b)
}

// gatherLocked is gather with s.mu held.
func (s *Sender) gatherLocked(b *batch) {
	if s.reply != nil {
		// First in the batch and stamped now, so the time the reply
		// waits is the network's, not the writer's.
		c := *s.reply
		c.OutUS = s.clockUS()
		b.control(c)
		s.reply = nil
	}
	if s.logsLost > 0 {
		b.control(wire.Log{Level: wire.LevelWarn, Message: fmt.Sprintf("%d log messages lost while the receiver was unreachable", s.logsLost)})
		s.logsLost = 0
	}
	for _, l := range s.logs {
		b.control(l)
	}
	clear(s.logs)
	s.logs = s.logs[:0]
	if s.written == s.acked && s.wi < s.q.len() {
		s.progress = time.Now() // the ack clock starts with the first outstanding byte
	}
	for n := 0; s.wi < s.q.len() && n < maxBatchRecords && len(b.hdr)+b.bytes < maxBatchBytes && s.pinned < s.window; n++ {
		r := s.q.at(s.wi)
		b.add(r)
		s.wi++
		s.pinned += r.size()
		s.written = r.seq
	}
	// Counted here, not after the write: a frame that reaches the
	// receiver before a cut is acked, and Sent must cover every acked one.
	first := s.c.Sent == 0 && b.frames > 0
	s.c.Sent += b.frames
	if first {
		s.changedLocked() // the first frame is out
	}
}

// stats is a Stats record for now; it reads the temperature, which is why
// it runs outside gather's lock.
func (s *Sender) stats() wire.Stats {
	temp, ok := s.cfg.Temp()
	if !ok {
		temp = wire.TempUnknown
	}
	c := s.Counters()
	return wire.Stats{
		Captured: c.Captured, Sent: c.Sent, Acked: c.Acked, Dropped: c.Dropped,
		BufferUsed: uint64(c.BufferUsed), BufferSize: uint64(c.BufferSize), TempMilliC: temp,
	}
}
