package sender

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/camwire/camwire/internal/rawio"
	"github.com/camwire/camwire/wire"
)

// RejectError is a receiver's Reject: Reason is written for the user (a
// version mismatch, a wrong key).
type RejectError struct{ Reason string }

func (e *RejectError) Error() string { return "receiver refused the connection: " + e.Reason }

// errNoKey explains the one handshake failure the camera's owner must fix
// on the camera.
var errNoKey = errors.New("receiver requires a shared key and this camera has none configured")

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
	// peer from making us allocate. rawio: an Ack arriving at an idle
	// recorder must not wake the runtime's sysmon (see the package); the
	// ordinary read did, a few times a second at camera pace.
	rd := wire.NewReader(rawio.Conn(conn), wire.Limits{MaxFrame: 1, MaxControl: wire.DefaultLimits.MaxControl})
	r, err := rd.Next()
	if err != nil {
		return nil, 0, fmt.Errorf("waiting for challenge: %w", err)
	}
	var pingIn int64
	var ch wire.Challenge
	switch v := r.(type) {
	case wire.Challenge:
		ch = v
		s.mu.Lock()
		s.peerMinor = ch.Minor
		s.mu.Unlock()
		pingIn = s.clockUS()
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
	b = wire.Append(b[:0], auth)
	if ch.Minor >= 2 && ch.Ping != 0 {
		// A 1.2 receiver reads this Clock right after the Auth: the
		// first sample of the clock mapping, before any frame is named.
		b = wire.Append(b, wire.Clock{Echo: ch.Ping, PingInUS: pingIn, OutUS: s.clockUS()})
	}
	if _, err := conn.Write(b); err != nil {
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
