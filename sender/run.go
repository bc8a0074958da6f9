package sender

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/camwire/camwire/wire"
)

// Run connects, resumes and sends until ctx ends, then returns nil. Network
// trouble, refusals and protocol errors are logged and retried with backoff
// (100 ms doubling to 2 s, back to 100 ms after a connection that got past
// its handshake and lasted 2 s); they never end Run. Call it once.
func (s *Sender) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("sender: Run called twice")
	}
	var lastErr string
	fails := 0
	for ctx.Err() == nil {
		start := time.Now()
		welcomed, err := s.session(ctx)
		if ctx.Err() != nil {
			break
		}
		var healthy time.Duration // 0 unless it got past the handshake
		if welcomed {
			healthy = time.Since(start)
		}
		pause := s.retry.Next(healthy)
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
			s.log.Warn("connection to receiver failed; retrying", "err", err, "retry_in", pause, "attempts", fails)
		default:
			s.log.Debug("connection to receiver failed; retrying", "err", err, "retry_in", pause, "attempts", fails)
		}
		if welcomed {
			fails = 0
		}
		lastErr = msg
		s.pause(ctx, pause)
	}
	return nil
}

// Redial cuts the pause before the next connection attempt short: the
// network changed (an address came, a link went up), so a dial that
// failed with "network is unreachable" may work now. At boot the sender
// starts before the address is on the link, and the backoff after a few
// such failures would otherwise hold the first frame back for up to
// 2 s. A call while no pause is running ends the next one at once.
func (s *Sender) Redial() {
	select {
	case s.redial <- struct{}{}:
	default:
	}
}

// AddrGone tells the sender that ip is no longer one of this host's
// addresses. A connection made from it is dead (the receiver's answers
// go to whoever holds ip now, and nothing would end the connection
// before the ack timeout, 10 s), so it is closed and the sender
// reconnects at once from the address that replaced it. This happens
// when the ARP probe finds an address conflict after the address was
// claimed optimistically (netcfg).
func (s *Sender) AddrGone(ip netip.Addr) {
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if c == nil {
		return
	}
	if local, ok := c.LocalAddr().(*net.TCPAddr); ok && local.AddrPort().Addr().Unmap() == ip.Unmap() {
		s.log.Info("local address gone, reconnecting", "addr", ip)
		c.Close()
		s.Redial()
	}
}

// pause waits d between connection attempts, or until Redial or ctx.
func (s *Sender) pause(ctx context.Context, d time.Duration) {
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.redial:
			cancel()
		case <-pctx.Done():
		}
	}()
	s.sleep(pctx, d)
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
	s.mu.Lock()
	s.conn = conn
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.conn = nil
		s.mu.Unlock()
	}()

	rd, acked, err := s.handshake(conn)
	if err != nil {
		return false, err
	}
	if err := s.resume(acked); err != nil {
		return false, err
	}
	s.log.Info("connected to receiver", "resume_after", acked)
	defer s.disconnected()

	o := &outlet{raw: newRawConn(conn)}
	s.mu.Lock()
	o.b.nals = s.peerMinor >= wire.MinorNALTable
	s.out = o
	s.mu.Unlock()
	done := make(chan struct{})
	errc := make(chan error, 3)
	go func() { errc <- s.writeLoop(conn, o, done) }()
	go func() { errc <- s.readLoop(rd) }()
	go func() { errc <- s.ackStallCheck(done) }()
	err = <-errc
	close(done)
	conn.Close()
	<-errc
	<-errc
	return true, err
}

func (s *Sender) disconnected() {
	s.mu.Lock()
	s.out = nil
	s.c.Connected = false
	s.changedLocked()
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
			if v.Ping != 0 { // only a 1.2 receiver pings
				s.reply = &wire.Clock{Echo: v.Ping, PingInUS: s.clockUS()}
			}
			// The writer has something to do when records wait (the
			// window may have opened); at camera pace none do, and
			// waking it for nothing cost a thread wake-up per ack.
			// The ping's reply does not wake it either: it goes first
			// in the next batch (gatherLocked), the next frame's
			// write-through at camera pace, or with the next Stats
			// when no frame comes. The reply says how long it was
			// held (PingInUS to OutUS), so holding it costs the clock
			// mapping nothing; answering at once cost a wake-up of the
			// writer and a write of its own per ack.
			wake := s.wi < s.q.len()
			s.mu.Unlock()
			if wake {
				s.poke()
			}
		case wire.Notice:
			s.log.Warn("receiver says: " + v.Message)
		case wire.ReportStored:
			s.reportStored(v.File)
		case wire.Reject:
			return &RejectError{v.Reason}
		default:
			return fmt.Errorf("receiver sent unexpected %s", r.Type())
		}
	}
}

// ackStallCheck ends the connection when data is outstanding and acks
// have not advanced for AckTimeout: TCP keepalive sees a dead host, this
// sees a live receiver that stopped storing. (It has nothing to do with
// the hardware watchdog, which pid1 pets.) It wakes when the stall could
// first be due, AckTimeout after the last progress, rather than on a
// fixed tick: progress moves at every ack, so at camera pace that is
// once every AckTimeout, not four times.
func (s *Sender) ackStallCheck(done <-chan struct{}) error {
	t := time.NewTimer(s.cfg.AckTimeout)
	defer t.Stop()
	for {
		select {
		case <-done:
			return nil
		case now := <-t.C:
			s.mu.Lock()
			outstanding := s.written > s.acked
			due := s.progress.Add(s.cfg.AckTimeout).Sub(now)
			s.mu.Unlock()
			if outstanding && due < 0 {
				return fmt.Errorf("no acknowledgement for %v with data outstanding", s.cfg.AckTimeout)
			}
			if !outstanding {
				// progress restarts with the next batch written, so
				// a stall is AckTimeout away at the earliest.
				due = s.cfg.AckTimeout
			}
			// Never more often than the fixed tick this replaces.
			t.Reset(max(due, s.cfg.AckTimeout/4))
		}
	}
}
