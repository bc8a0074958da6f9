package sender

import (
	"context"
	"errors"
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

// RejectError is a receiver's Reject: Reason is written for the user (a
// version mismatch, a wrong key).
type RejectError struct{ Reason string }

func (e *RejectError) Error() string { return "receiver refused the connection: " + e.Reason }

// errNoKey explains the one handshake failure the camera's owner must fix
// on the camera.
var errNoKey = errors.New("receiver requires a shared key and this camera has none configured")

// Run connects, resumes and sends until ctx ends, then returns nil. Network
// trouble, refusals and protocol errors are logged and retried with backoff
// (100 ms doubling to 2 s); they never end Run. Call it once.
func (s *Sender) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("sender: Run called twice")
	}
	backoff := s.backoffMin
	var lastErr string
	fails := 0
	for ctx.Err() == nil {
		start := time.Now()
		welcomed, err := s.session(ctx)
		if ctx.Err() != nil {
			break
		}
		if welcomed && time.Since(start) >= s.backoffMax {
			backoff = s.backoffMin
		}
		// The first failure of a kind is worth a warning; the same failure
		// every two seconds for an hour is not, so repeats go to Debug
		// with a periodic reminder.
		fails++
		var rej *RejectError
		msg := err.Error()
		switch {
		case errors.As(err, &rej) || errors.Is(err, errNoKey):
			if msg != lastErr || fails%30 == 0 {
				s.log.Error("cannot send to receiver", "err", err, "attempts", fails)
			}
		case msg != lastErr || fails%30 == 0:
			s.log.Warn("connection to receiver failed; retrying", "err", err, "retry_in", backoff, "attempts", fails)
		default:
			s.log.Debug("connection to receiver failed; retrying", "err", err, "retry_in", backoff, "attempts", fails)
		}
		if welcomed {
			fails = 0
		}
		lastErr = msg
		s.sleep(ctx, backoff)
		backoff = min(2*backoff, s.backoffMax)
	}
	return nil
}

// session runs one connection from dial to failure. welcomed reports
// whether it got past the handshake.
func (s *Sender) session(ctx context.Context) (welcomed bool, err error) {
	dctx, cancel := context.WithTimeout(ctx, s.handshakeTimeout)
	conn, err := s.cfg.Dial(dctx, s.cfg.Addr)
	cancel()
	if err != nil {
		return false, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	rd, acked, err := s.handshake(conn)
	if err != nil {
		return false, err
	}
	if err := s.resume(acked); err != nil {
		return false, err
	}
	s.log.Info("connected to receiver", "resume_after", acked)
	defer s.disconnected()

	done := make(chan struct{})
	errc := make(chan error, 3)
	go func() { errc <- s.writeLoop(conn, done) }()
	go func() { errc <- s.readLoop(rd) }()
	go func() { errc <- s.watchdog(done) }()
	err = <-errc
	close(done)
	conn.Close()
	<-errc
	<-errc
	return true, err
}

// handshake sends Preamble+Hello and Auth and returns the reader (which may
// already hold the first Acks) and Welcome.Acked.
func (s *Sender) handshake(conn net.Conn) (*wire.Reader, uint64, error) {
	if err := conn.SetDeadline(time.Now().Add(s.handshakeTimeout)); err != nil {
		return nil, 0, err
	}
	b := wire.Append(wire.AppendPreamble(nil), s.cfg.Hello)
	if _, err := conn.Write(b); err != nil {
		return nil, 0, fmt.Errorf("sending hello: %w", err)
	}
	// The receiver sends no Frames: a tiny frame limit keeps a confused
	// peer from making us allocate.
	rd := wire.NewReader(conn, wire.Limits{MaxFrame: 1, MaxControl: wire.DefaultLimits.MaxControl})
	r, err := rd.Next()
	if err != nil {
		return nil, 0, fmt.Errorf("waiting for challenge: %w", err)
	}
	var ch wire.Challenge
	switch v := r.(type) {
	case wire.Challenge:
		ch = v
	case wire.Reject:
		return nil, 0, &RejectError{v.Reason}
	default:
		return nil, 0, fmt.Errorf("receiver sent %s, want challenge", r.Type())
	}
	var auth wire.Auth
	if len(s.cfg.Key) > 0 {
		mac := wire.MAC(s.cfg.Key, ch.Nonce, s.cfg.Hello.StreamID, s.cfg.Hello.Name)
		auth.MAC = mac[:]
	}
	// Without a key we still answer, so the receiver's log shows which
	// camera tried; the Reject it sends is then shown here too.
	if err := wire.Write(conn, auth); err != nil {
		return nil, 0, fmt.Errorf("sending auth: %w", err)
	}
	r, err = rd.Next()
	if err != nil {
		if ch.AuthRequired && auth.MAC == nil {
			return nil, 0, errNoKey
		}
		return nil, 0, fmt.Errorf("waiting for welcome: %w", err)
	}
	switch v := r.(type) {
	case wire.Welcome:
		if err := conn.SetDeadline(time.Time{}); err != nil {
			return nil, 0, err
		}
		return rd, v.Acked, nil
	case wire.Reject:
		if ch.AuthRequired && auth.MAC == nil {
			return nil, 0, fmt.Errorf("%w (%w)", errNoKey, &RejectError{v.Reason})
		}
		return nil, 0, &RejectError{v.Reason}
	}
	return nil, 0, fmt.Errorf("receiver sent %s, want welcome", r.Type())
}

// resume applies Welcome{Acked: acked}: records up to acked are stored,
// everything after is not at the receiver any more (it kept nothing past
// acked), so the writer starts over at the head of the queue.
func (s *Sender) resume(acked uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if last := s.nextSeq - 1; acked > last {
		return fmt.Errorf("receiver claims records up to %d, this sender has only produced %d (stream ID reused?)", acked, last)
	}
	if acked < s.acked {
		// The receiver lost records it had acknowledged (a disk that lied
		// about fsync). They are gone here too; say so with a Gap rather
		// than leave a hole the receiver would refuse.
		s.log.Error("receiver lost acknowledged records", "had", s.acked, "now", acked)
		g := rec{kind: kindGap, first: acked + 1, seq: s.acked}
		s.pushFront(g)
		s.used += g.size()
		s.acked = acked
	}
	s.freeTo(acked)
	s.wi, s.pinned, s.written = 0, 0, acked
	s.c.Connected = true
	s.c.Connects++
	s.progress = time.Now()
	return nil
}

// pushFront puts r at the head of the queue.
func (s *Sender) pushFront(r rec) {
	s.q.push(rec{})
	for i := s.q.len() - 1; i > 0; i-- {
		*s.q.at(i) = *s.q.at(i - 1)
	}
	*s.q.at(0) = r
}

// freeTo drops acknowledged records from the head. Caller holds mu.
func (s *Sender) freeTo(seq uint64) {
	if seq <= s.acked {
		return
	}
	for s.q.len() > 0 && s.q.at(0).seq <= seq {
		r := s.q.pop()
		sz := r.size()
		s.used -= sz
		if s.wi > 0 {
			s.wi--
			s.pinned -= sz
		}
		if r.kind == kindFrame {
			s.c.Acked++
			// The receiver has it, so the kernel copied it long ago; a
			// writer still listing it in a batch is past it.
			s.pool.put(r.payload)
		}
	}
	s.acked = seq
	s.c.LastAck = time.Now()
	s.progress = s.c.LastAck
	close(s.ackCh)
	s.ackCh = make(chan struct{})
}

func (s *Sender) disconnected() {
	s.mu.Lock()
	s.c.Connected = false
	s.mu.Unlock()
}

// readLoop applies Acks and logs Notices until the connection fails.
func (s *Sender) readLoop(rd *wire.Reader) error {
	for {
		r, err := rd.Next()
		if err != nil {
			return fmt.Errorf("reading from receiver: %w", err)
		}
		switch v := r.(type) {
		case wire.Ack:
			s.mu.Lock()
			if v.Seq > s.written {
				s.mu.Unlock()
				return fmt.Errorf("receiver acknowledged %d, only %d were sent", v.Seq, s.written)
			}
			s.freeTo(v.Seq)
			s.mu.Unlock()
			s.poke() // the window may have opened
		case wire.Notice:
			s.log.Warn("receiver says: " + v.Message)
		case wire.Reject:
			return &RejectError{v.Reason}
		default:
			return fmt.Errorf("receiver sent unexpected %s", r.Type())
		}
	}
}

// watchdog ends the connection when data is outstanding and acks have not
// advanced for AckTimeout: TCP keepalive sees a dead host, this sees a
// live receiver that stopped storing.
func (s *Sender) watchdog(done <-chan struct{}) error {
	t := time.NewTicker(s.cfg.AckTimeout / 4)
	defer t.Stop()
	for {
		select {
		case <-done:
			return nil
		case now := <-t.C:
			s.mu.Lock()
			stalled := s.written > s.acked && now.Sub(s.progress) > s.cfg.AckTimeout
			s.mu.Unlock()
			if stalled {
				return fmt.Errorf("no acknowledgement for %v with data outstanding", s.cfg.AckTimeout)
			}
		}
	}
}

// batch is the writer's reusable scratch: record headers are encoded into
// hdr and payloads referenced, so an access unit is never copied again.
type batch struct {
	hdr    []byte
	parts  []part
	bufs   net.Buffers // backing array reused across batches
	w      net.Buffers // consumed by WriteTo; a field so it does not escape per write
	frames uint64
	bytes  int
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
		b.hdr = wire.AppendFrameHeader(b.hdr, wire.Frame{Seq: r.seq, Segment: r.segment, TimeUS: r.timeUS, Key: r.key, Payload: r.payload})
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

// writeLoop sends queued records in order, plus Logs and Stats, until the
// connection fails or done closes.
func (s *Sender) writeLoop(conn net.Conn, done <-chan struct{}) error {
	tick := time.NewTicker(s.cfg.StatsEvery)
	defer tick.Stop()
	b := &batch{}
	statsDue := true // one right away, so the receiver sees the state at once
	for {
		b.reset()
		if statsDue {
			b.control(s.stats())
			statsDue = false
		}
		s.gather(b)
		if len(b.parts) == 0 {
			select {
			case <-done:
				return nil
			case <-s.wake:
			case <-tick.C:
				statsDue = true
			}
			continue
		}
		if err := conn.SetWriteDeadline(time.Now().Add(s.writeTimeout)); err != nil {
			return err
		}
		b.w = b.iovecs()
		_, err := b.w.WriteTo(conn)
		clear(b.bufs) // drop payload references; acked ones may be freed
		if err != nil {
			return fmt.Errorf("writing to receiver: %w", err)
		}
		select {
		case <-tick.C:
			statsDue = true
		default:
		}
	}
}

// gather moves queued Logs and the next unwritten records into b. Records
// become pinned here, before the write: from now on the receiver may have
// them, so they must never be dropped.
func (s *Sender) gather(b *batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
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
	s.c.Sent += b.frames
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
