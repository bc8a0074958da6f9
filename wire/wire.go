// Package wire is camwire's protocol between a camera (the sender) and
// camwire-recv: a preamble, a handshake, then sequenced records that the
// receiver acknowledges once they are durably written.
//
// The package imports nothing else of camwire's, so both sides and the
// fuzz targets share exactly one encoder and one decoder. docs/PROTOCOL.md
// describes the bytes; this file is the authority if they disagree.
//
// Layout of a connection:
//
//	sender → receiver: Preamble (Magic, major, minor), Hello
//	receiver → sender: Challenge (nonce, whether a key is required)
//	sender → receiver: Auth (HMAC-SHA256 over the nonce, or empty),
//	                   Clock (1.2: the answer to the Challenge's ping)
//	receiver → sender: Welcome (highest durably stored Seq) or Reject
//	sender → receiver: Frame (1.3: with its NAL table, to a 1.3 receiver),
//	                   SegmentEnd, Gap (sequenced); Stats, Log,
//	                   BootReport (1.1: once per boot, to a 1.1 receiver),
//	                   Clock (1.2: the answer to an Ack's ping)
//	receiver → sender: Ack (highest durably stored Seq), Notice,
//	                   ReportStored (1.1)
//
// A connection whose first bytes are not Magic is a raw stream
// (raspivid | nc) and never reaches this package's decoder.
package wire

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
)

// Magic opens every framed connection. Raw H.264 (Annex-B) starts with a
// zero byte, so the first byte alone tells the two modes apart.
const Magic = "CAMWIRE\n"

// The protocol version this package speaks. A receiver refuses another
// major version with a Reject whose reason the sender shows to the user.
// A minor version adds trailing fields, which older decoders skip, and
// record types, which a peer sends only to a peer that announced that
// minor version or later: the sender's is in its preamble, the
// receiver's in its Challenge (Challenge.Minor). An old peer therefore
// never sees a type it does not know.
//
// Minor versions: 0 the first; 1 adds Challenge.Minor, BootReport and
// ReportStored; 2 adds Challenge.Ping, Ack.Ping and Clock (the capture
// clock's mapping to the receiver's wall clock); 3 adds Frame.NALs (the
// NAL table, see NALTable), sent only to a receiver of 1.3 or later.
const (
	Major = 1
	Minor = 3
)

// MinorNALTable is the receiver minor version that reads Frame.NALs: a
// sender sets the table only on frames to such a receiver.
const MinorNALTable = 3

// DefaultPort is the old `nc -lp 10401` port, so cameras and laptops set up
// for the shell-script recorder keep working.
const DefaultPort = 10401

// Type identifies a record. Types below 0x80 travel from sender to
// receiver, the others from receiver to sender.
type Type uint8

// Record types. The numbers are part of the protocol and never reused.
const (
	TypeHello      Type = 0x01
	TypeAuth       Type = 0x02
	TypeFrame      Type = 0x03
	TypeSegmentEnd Type = 0x04
	TypeGap        Type = 0x05
	TypeStats      Type = 0x06
	TypeLog        Type = 0x07
	TypeBootReport Type = 0x08 // minor 1
	TypeClock      Type = 0x09 // minor 2

	TypeChallenge    Type = 0x81
	TypeWelcome      Type = 0x82
	TypeAck          Type = 0x83
	TypeReject       Type = 0x84
	TypeNotice       Type = 0x85
	TypeReportStored Type = 0x86 // minor 1
)

func (t Type) String() string {
	switch t {
	case TypeHello:
		return "hello"
	case TypeAuth:
		return "auth"
	case TypeFrame:
		return "frame"
	case TypeSegmentEnd:
		return "segment-end"
	case TypeGap:
		return "gap"
	case TypeStats:
		return "stats"
	case TypeLog:
		return "log"
	case TypeBootReport:
		return "boot-report"
	case TypeClock:
		return "clock"
	case TypeChallenge:
		return "challenge"
	case TypeWelcome:
		return "welcome"
	case TypeAck:
		return "ack"
	case TypeReject:
		return "reject"
	case TypeNotice:
		return "notice"
	case TypeReportStored:
		return "report-stored"
	}
	return fmt.Sprintf("type-0x%02x", uint8(t))
}

// Limits bound everything a peer can make the decoder allocate or wait
// for. A record over a limit is an error that closes that connection.
type Limits struct {
	MaxFrame   int // payload bytes of one Frame (one access unit)
	MaxControl int // body bytes of any record that is not a Frame
}

// DefaultLimits fit a 1080p keyframe at 25 Mbit/s (the camera's maximum)
// several times over while keeping a hostile peer's cost small.
var DefaultLimits = Limits{
	MaxFrame:   8 << 20,
	MaxControl: 4 << 10,
}

// Field limits.
const (
	MaxNameLen    = 63 // bytes of a camera name; also a valid hostname label
	MaxCodecLen   = 16
	MaxMessageLen = 1024 // Reject, Notice and Log text
	// MaxReportLen bounds a BootReport's text: a few hundred lines, far
	// more than a report holds, yet small for a hostile peer.
	MaxReportLen = 32 << 10
	NonceLen     = 32
	MACLen       = sha256.Size
	StreamIDLen  = 16
)

// Errors the decoder wraps; callers test them with errors.Is.
var (
	ErrNotFramed   = errors.New("wire: not a camwire stream (no magic)")
	ErrVersion     = errors.New("wire: unsupported protocol version")
	ErrTooLarge    = errors.New("wire: record too large")
	ErrMalformed   = errors.New("wire: malformed record")
	ErrUnknownType = errors.New("wire: unknown record type")
	ErrBadName     = errors.New("wire: bad camera name")
)

// ValidName reports whether name can be a camera name: it becomes a folder
// on the laptop (Linux, macOS, Windows) and the Pi's hostname, so it is
// 1–63 of [A-Za-z0-9._-], does not start with '.' or '-', and is not a
// Windows device name such as CON or COM1 (with or without extension).
func ValidName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrBadName)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrBadName, len(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("%w: %q has byte 0x%02x; use letters, digits, '.', '_', '-'", ErrBadName, name, c)
		}
	}
	if name[0] == '.' || name[0] == '-' {
		return fmt.Errorf("%w: %q starts with %q", ErrBadName, name, name[0])
	}
	if strings.HasSuffix(name, ".") {
		return fmt.Errorf("%w: %q ends with '.' (Windows drops it)", ErrBadName, name)
	}
	base := strings.ToUpper(name)
	if i := strings.IndexByte(base, '.'); i >= 0 {
		base = base[:i]
	}
	switch base {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return fmt.Errorf("%w: %q is a Windows device name", ErrBadName, name)
	}
	if len(base) == 4 && (strings.HasPrefix(base, "COM") || strings.HasPrefix(base, "LPT")) &&
		base[3] >= '0' && base[3] <= '9' {
		return fmt.Errorf("%w: %q is a Windows device name", ErrBadName, name)
	}
	return nil
}

// MAC is the sender's proof that it holds the shared key: HMAC-SHA256 over
// a fixed label, the receiver's fresh nonce, the stream ID and the name.
// The nonce makes a recorded proof useless on another connection; binding
// the name and stream keeps a proof from being moved to another camera.
func MAC(key []byte, nonce [NonceLen]byte, streamID [StreamIDLen]byte, name string) [MACLen]byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("camwire-auth-v1\x00"))
	m.Write(nonce[:])
	m.Write(streamID[:])
	m.Write([]byte(name))
	var out [MACLen]byte
	copy(out[:], m.Sum(nil))
	return out
}

// CheckMAC compares in constant time.
func CheckMAC(key []byte, nonce [NonceLen]byte, streamID [StreamIDLen]byte, name string, got []byte) bool {
	want := MAC(key, nonce, streamID, name)
	return hmac.Equal(want[:], got)
}
