package recv

import (
	"log/slog"
	"time"
)

// Connection slots. A slot is taken at accept, before anything is known
// about the peer, so junk (a port scan, a peer trickling a byte now and
// then) could hold all MaxConns of them while a camera is refused. Two
// rules keep a way in for cameras:
//
//   - When every slot is taken, a new connection replaces the oldest one
//     still in its handshake (preamble, hello, auth): a camera that
//     connects completes its hello in milliseconds, a peer that has not
//     after all the later arrivals is the likeliest junk. Cameras past
//     the handshake and raw streams are never closed for room.
//   - Raw streams, which anything that connects and sends a byte becomes
//     when no key is set, get at most MaxConns minus a reserve of a
//     quarter (at least one) of the slots, so they cannot fill the rest.
//
// With -key, raw streams are refused altogether unless AllowRaw.

// admit takes a slot for cc or says why not; the caller closes a
// connection it refuses.
func (s *Server) admit(cc *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	cc.at = time.Now()
	n := 0
	var oldest *conn
	for o := range s.conns {
		if o.evicted {
			continue
		}
		n++
		if o.phase == phaseHello && (oldest == nil || o.at.Before(oldest.at)) {
			oldest = o
		}
	}
	if n >= s.MaxConns {
		if oldest == nil {
			s.log.Warn("connection refused: too many connections, every one a camera or raw stream", "peer", cc.st.Peer, "max_conns", s.MaxConns)
			return false
		}
		oldest.evicted = true
		oldest.kick()
		s.log.Warn("closed a connection still in its handshake to make room for a new one", "peer", oldest.st.Peer,
			"waited", time.Since(oldest.at).Round(time.Millisecond).String(), "max_conns", s.MaxConns)
	}
	s.conns[cc] = struct{}{}
	return true
}

// rawReserve is how many slots raw streams leave to camwire cameras.
func (s *Server) rawReserve() int {
	if s.MaxConns < 2 {
		return 0
	}
	return max(1, s.MaxConns/4)
}

// rawRefused decides whether cc may be a raw stream, logging why not.
func (s *Server) rawRefused(cc *conn, log *slog.Logger) bool {
	if s.Key != nil && !s.AllowRaw {
		log.Warn("raw stream refused: this receiver has a key (-key) and a raw (raspivid | nc) stream cannot prove it; nothing stored. camwire-recv -allow-raw accepts raw streams anyway")
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	raw := 0
	for o := range s.conns {
		if !o.evicted && o.phase == phaseRaw {
			raw++
		}
	}
	if limit := s.MaxConns - s.rawReserve(); raw >= limit {
		log.Warn("raw stream refused: too many raw streams; the remaining slots are kept for camwire cameras", "raw_streams", raw, "max_conns", s.MaxConns)
		return true
	}
	cc.phase = phaseRaw
	return false
}

// proven marks cc as a camera past its handshake: it no longer gives up
// its slot to newcomers.
func (s *Server) proven(cc *conn) {
	s.mu.Lock()
	cc.phase = phaseCamera
	s.mu.Unlock()
}
