package recv

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/camwire/camwire/clockmap"
	"github.com/camwire/camwire/wire"
)

// peer is a framed sender that passed the handshake: its hello was valid,
// its camera folder is inside Dir, and it knew the key if one is set.
type peer struct {
	hello wire.Hello // Name is the folder's name (see folderFor)
	// claimed is the name the camera said; it differs from hello.Name
	// when another live camera claims it too.
	claimed string
	dir     string // camera folder
	sid     string // StreamID, hex
	log     *slog.Logger
	minor   uint8 // the sender's minor version
	// clock is the first round trip of the capture clock's mapping
	// (a 1.2 sender's answer to the Challenge's ping).
	clock   clockmap.Sample
	clockOK bool
}

// serveFramed runs the handshake, then the session.
func (s *Server) serveFramed(cc *conn, br *bufio.Reader, log *slog.Logger) {
	p, ok := s.handshake(cc, br, log)
	if !ok {
		return
	}
	s.proven(cc)
	defer s.leave(p.claimed, p.hello.StreamID, cc.st.Peer)
	s.serveSession(cc, wire.NewReader(br, s.Limits), p)
}

// handshake reads the preamble, hello and auth and answers with a
// challenge, or with a Reject that says what was wrong. The Welcome is
// the session's: it carries the stream's durable state.
func (s *Server) handshake(cc *conn, br *bufio.Reader, log *slog.Logger) (peer, bool) {
	cc.st.update(func(st *Status) { st.Mode = "framed"; st.Camera = "?" })
	// The handshake reader refuses frames: a peer that has not
	// authenticated cannot make the receiver allocate a frame buffer.
	hrd := wire.NewReader(br, wire.Limits{MaxFrame: 1, MaxControl: s.Limits.MaxControl})
	v, err := hrd.ReadPreamble()
	if err != nil {
		if errors.Is(err, wire.ErrVersion) {
			s.reject(cc, log, fmt.Sprintf("camwire-recv speaks protocol %d.%d and cannot talk to a camera speaking %s: update the older of the two", wire.Major, wire.Minor, v))
			return peer{}, false
		}
		log.Warn("connection closed: bad preamble", "err", err)
		return peer{}, false
	}
	r, err := hrd.Next()
	if err != nil {
		s.handshakeFailed(cc, log, "hello", err)
		return peer{}, false
	}
	hello, ok := r.(wire.Hello)
	if !ok {
		s.reject(cc, log, fmt.Sprintf("expected a hello record, got %s", r.Type()))
		return peer{}, false
	}
	if err := hello.Validate(); err != nil {
		s.reject(cc, log, "hello refused: "+err.Error())
		return peer{}, false
	}
	dir, err := within(s.Dir, hello.Name)
	if err != nil {
		s.reject(cc, log, "hello refused: "+err.Error())
		return peer{}, false
	}
	sid := hex.EncodeToString(hello.StreamID[:])
	log = log.With("camera", hello.Name, "stream", sid[:8])
	cc.st.update(func(st *Status) { st.Camera = hello.Name })

	var ch wire.Challenge
	rand.Read(ch.Nonce[:])
	ch.AuthRequired = s.Key != nil
	ch.Minor = wire.Minor // the sender may send us 1.1 records (BootReport)
	if v.Minor >= 2 {
		ch.Ping = s.ping() // answered by a Clock after the Auth
	}
	if err := s.send(cc, ch); err != nil {
		log.Warn("connection closed during handshake", "err", err)
		return peer{}, false
	}
	r, err = hrd.Next()
	if err != nil {
		s.handshakeFailed(cc, log, "auth", err)
		return peer{}, false
	}
	auth, ok := r.(wire.Auth)
	if !ok {
		s.reject(cc, log, fmt.Sprintf("expected an auth record, got %s", r.Type()))
		return peer{}, false
	}
	if s.Key != nil {
		if len(auth.MAC) == 0 {
			s.reject(cc, log, "this receiver requires the shared key (camwire-recv -key): set the same key on the camera")
			return peer{}, false
		}
		if !wire.CheckMAC(s.Key, ch.Nonce, hello.StreamID, hello.Name, auth.MAC) {
			s.reject(cc, log, "wrong key: the camera's key differs from camwire-recv -key")
			return peer{}, false
		}
	}
	var smp clockmap.Sample
	var smpOK bool
	if ch.Ping != 0 {
		r, err = hrd.Next()
		if err != nil {
			s.handshakeFailed(cc, log, "clock", err)
			return peer{}, false
		}
		c, ok := r.(wire.Clock)
		if !ok {
			s.reject(cc, log, fmt.Sprintf("expected a clock record (protocol %s), got %s", v, r.Type()))
			return peer{}, false
		}
		smp, smpOK = s.sample(c, s.now())
	}
	claimed := hello.Name
	if folder := s.folderFor(claimed, hello.StreamID, cc.st.Peer); folder != claimed {
		if dir, err = within(s.Dir, folder); err != nil {
			s.leave(claimed, hello.StreamID, cc.st.Peer)
			s.reject(cc, log, "hello refused: "+err.Error())
			return peer{}, false
		}
		hello.Name = folder
		log = log.With("folder", folder)
		cc.st.update(func(st *Status) { st.Camera = folder })
	}
	return peer{hello: hello, claimed: claimed, dir: dir, sid: sid, log: log,
		minor: v.Minor, clock: smp, clockOK: smpOK}, true
}

// handshakeFailed closes a connection whose handshake record did not
// decode. A peer that sent a bad record is told why; one that went
// silent or away is only logged.
func (s *Server) handshakeFailed(cc *conn, log *slog.Logger, want string, err error) {
	var ne net.Error
	switch {
	case errors.Is(err, wire.ErrTooLarge) || errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrUnknownType):
		s.reject(cc, log, fmt.Sprintf("bad %s record: %v", want, err))
	case errors.As(err, &ne) && ne.Timeout() && !cc.stopped():
		log.Warn("connection closed: handshake timeout", "waiting_for", want, "timeout", s.HandshakeTimeout)
	default:
		log.Warn("connection closed during handshake", "waiting_for", want, "err", err)
	}
}

// send writes one record under the idle deadline, so a peer that never
// reads cannot block the session.
func (s *Server) send(cc *conn, r wire.Record) error {
	cc.c.SetWriteDeadline(time.Now().Add(s.IdleTimeout))
	return wire.Write(cc.c, r)
}

// reject tells the sender why, in words it can show, and logs the same.
func (s *Server) reject(cc *conn, log *slog.Logger, reason string) {
	log.Warn("connection rejected", "reason", reason)
	s.send(cc, wire.Reject{Reason: reason})
}
