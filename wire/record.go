package wire

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Record is one protocol message. Every record travels as
//
//	type   uint8
//	length uint32, big endian: bytes of body
//	body   length bytes, layout per type below
//
// Integers are big endian. Decoders ignore body bytes past the fields they
// know, which is how minor versions add fields.
type Record interface {
	Type() Type
	appendBody(b []byte) []byte
}

// Hello is the sender's first record after the preamble.
type Hello struct {
	Name     string            // camera name, see ValidName
	StreamID [StreamIDLen]byte // fixed for one run of the sender; a reconnect with the same ID resumes
	Codec    string            // "h264"
	Width    uint16
	Height   uint16
	FPSNum   uint32 // frame rate as a fraction, e.g. 30/1 or 30000/1001
	FPSDen   uint32
}

// Auth carries the MAC over the Challenge's nonce; empty when the sender
// has no key.
type Auth struct {
	MAC []byte
}

// Frame is one H.264 access unit (Annex-B, start codes included).
// Payload aliases the Reader's buffer: it is valid until the next Next.
type Frame struct {
	Seq     uint64
	Segment uint32
	TimeUS  int64 // capture time in µs on the sender's monotonic clock
	Key     bool  // access unit is an IDR picture: a segment may start here
	Payload []byte
	// NALs (1.3, only to a receiver of 1.3 or later) says where the
	// payload's NAL units begin; nil: the frame has no table. Not to be
	// trusted: see NALTable. It aliases the same buffer as Payload (with
	// ReadPayloadsInto it lies in the payload's buffer, after Payload).
	NALs NALTable
}

// Frame flag bits. flagNALs (1.3): a NAL table, u16 length and bytes,
// follows the flags, before the payload.
const (
	flagKey  = 1 << 0
	flagNALs = 1 << 1
)

// SegmentEnd closes segment Segment after Frames frames; the receiver
// finalises that file.
type SegmentEnd struct {
	Seq     uint64
	Segment uint32
	Frames  uint32
}

// Gap says the sender dropped the records First..Seq (inclusive) from its
// buffer because the receiver could not keep up or was unreachable; Frames
// of them were video frames. The Gap takes their place in the sequence.
type Gap struct {
	Seq    uint64
	First  uint64
	Frames uint32
}

// Stats is the sender's periodic report; not sequenced, not acknowledged.
type Stats struct {
	Captured   uint64 // frames from the source
	Sent       uint64 // frames written to a connection (a resend counts again)
	Acked      uint64 // frames acknowledged
	Dropped    uint64 // frames lost to buffer overflow (as reported in Gaps)
	BufferUsed uint64 // bytes held for (re)sending
	BufferSize uint64
	TempMilliC int32 // SoC temperature, or MinInt32 when unknown
}

// Log is a message from the sender for the receiver's log, e.g. a bad key
// in camwire.txt.
type Log struct {
	Level   uint8 // 0 info, 1 warning, 2 error
	Message string
}

// Log levels.
const (
	LevelInfo  = 0
	LevelWarn  = 1
	LevelError = 2
)

// BootReport is the camera's plain-text hardware report, sent once per
// boot after the Welcome, and only to a receiver whose Challenge.Minor is
// at least 1. Its first line is a one-line summary; the rest is for a
// person (board, kernel, modules, devices, link, temperature). The
// receiver stores it and answers with ReportStored; until then the
// sender sends it again on each new connection.
type BootReport struct {
	Text string // at most MaxReportLen bytes
}

// Challenge is the receiver's answer to Hello.
type Challenge struct {
	Nonce        [NonceLen]byte
	AuthRequired bool
	// Minor is the receiver's minor protocol version (a 1.0 receiver
	// sends no such field, which decodes as 0). The sender sends a
	// record type only if Minor is at least the version that added it.
	Minor uint8
	// Ping (1.2, sent to a sender of 1.2 or later) is the receiver's
	// opaque stamp of when it sent this record; the sender answers with
	// a Clock after its Auth. 0: no ping.
	Ping uint64
}

// Clock (1.2) answers a ping (Challenge.Ping, Ack.Ping): it echoes the
// ping's stamp and says what the sender's capture clock (the clock of
// Frame.TimeUS) read when the ping arrived and when this reply left. The
// receiver adds its own send and receive times and so bounds the offset
// between the two clocks (see package clockmap). Not sequenced.
type Clock struct {
	Echo     uint64 // the ping's stamp
	PingInUS int64  // sender's capture clock, µs, when the ping was read
	OutUS    int64  // sender's capture clock, µs, when this record was written
}

// Welcome accepts the stream. Acked is the highest sequence number already
// durably stored for this StreamID (0 when none): the sender resumes at
// Acked+1. Sequence numbers start at 1.
type Welcome struct {
	Acked uint64
}

// Ack says every record up to Seq is written and fsynced.
type Ack struct {
	Seq uint64
	// Ping (1.2, sent to a sender of 1.2 or later) asks for a Clock, as
	// Challenge.Ping does; 0: no ping.
	Ping uint64
}

// Reject refuses the connection; the receiver closes it after sending.
// Its layout (a length-prefixed text) never changes between versions, so
// any sender can show why it was refused.
type Reject struct {
	Reason string
}

// Notice is a message for the sender's log, e.g. that the laptop's disk
// is full and acknowledgements have stopped.
type Notice struct {
	Message string
}

// ReportStored says the receiver wrote the BootReport to disk (fsynced)
// as File, a path relative to its recording folder, so the sender stops
// sending it.
type ReportStored struct {
	File string
}

func (Hello) Type() Type        { return TypeHello }
func (Auth) Type() Type         { return TypeAuth }
func (Frame) Type() Type        { return TypeFrame }
func (SegmentEnd) Type() Type   { return TypeSegmentEnd }
func (Gap) Type() Type          { return TypeGap }
func (Stats) Type() Type        { return TypeStats }
func (Log) Type() Type          { return TypeLog }
func (BootReport) Type() Type   { return TypeBootReport }
func (Clock) Type() Type        { return TypeClock }
func (Challenge) Type() Type    { return TypeChallenge }
func (Welcome) Type() Type      { return TypeWelcome }
func (Ack) Type() Type          { return TypeAck }
func (Reject) Type() Type       { return TypeReject }
func (Notice) Type() Type       { return TypeNotice }
func (ReportStored) Type() Type { return TypeReportStored }

// Validate checks a Hello's fields; both the sender (before it connects)
// and the receiver (before it creates anything) call it.
func (h Hello) Validate() error {
	if err := ValidName(h.Name); err != nil {
		return err
	}
	if h.Codec != "h264" {
		return fmt.Errorf("%w: codec %q, only \"h264\" is supported", ErrMalformed, h.Codec)
	}
	if h.FPSDen == 0 && h.FPSNum != 0 {
		return fmt.Errorf("%w: frame rate %d/0", ErrMalformed, h.FPSNum)
	}
	return nil
}

// FPS returns the frame rate as a float, 0 when unknown.
func (h Hello) FPS() float64 {
	if h.FPSDen == 0 {
		return 0
	}
	return float64(h.FPSNum) / float64(h.FPSDen)
}

func appendString8(b []byte, s string) []byte {
	b = append(b, byte(len(s)))
	return append(b, s...)
}

func appendString16(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func (h Hello) appendBody(b []byte) []byte {
	b = appendString8(b, h.Name)
	b = append(b, h.StreamID[:]...)
	b = appendString8(b, h.Codec)
	b = binary.BigEndian.AppendUint16(b, h.Width)
	b = binary.BigEndian.AppendUint16(b, h.Height)
	b = binary.BigEndian.AppendUint32(b, h.FPSNum)
	return binary.BigEndian.AppendUint32(b, h.FPSDen)
}

func (a Auth) appendBody(b []byte) []byte { return append(b, a.MAC...) }

func (f Frame) appendBody(b []byte) []byte {
	b = f.appendHeader(b)
	if f.NALs != nil {
		b = binary.BigEndian.AppendUint16(b, uint16(len(f.NALs)))
		b = append(b, f.NALs...)
	}
	return append(b, f.Payload...)
}

// frameHeaderLen is the body bytes of a Frame before its payload (and
// before its NAL table's length, when it has one).
const frameHeaderLen = 8 + 4 + 8 + 1

func (f Frame) appendHeader(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, f.Seq)
	b = binary.BigEndian.AppendUint32(b, f.Segment)
	b = binary.BigEndian.AppendUint64(b, uint64(f.TimeUS))
	var flags byte
	if f.Key {
		flags |= flagKey
	}
	if f.NALs != nil {
		flags |= flagNALs
	}
	return append(b, flags)
}

func (s SegmentEnd) appendBody(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, s.Seq)
	b = binary.BigEndian.AppendUint32(b, s.Segment)
	return binary.BigEndian.AppendUint32(b, s.Frames)
}

func (g Gap) appendBody(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, g.Seq)
	b = binary.BigEndian.AppendUint64(b, g.First)
	return binary.BigEndian.AppendUint32(b, g.Frames)
}

func (s Stats) appendBody(b []byte) []byte {
	for _, v := range []uint64{s.Captured, s.Sent, s.Acked, s.Dropped, s.BufferUsed, s.BufferSize} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	return binary.BigEndian.AppendUint32(b, uint32(s.TempMilliC))
}

func (l Log) appendBody(b []byte) []byte {
	b = append(b, l.Level)
	return appendString16(b, l.Message)
}

func (r BootReport) appendBody(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Text)))
	return append(b, r.Text...)
}

func (c Challenge) appendBody(b []byte) []byte {
	b = append(b, c.Nonce[:]...)
	var auth byte
	if c.AuthRequired {
		auth = 1
	}
	b = append(b, auth, c.Minor)
	if c.Ping != 0 {
		b = binary.BigEndian.AppendUint64(b, c.Ping)
	}
	return b
}

func (c Clock) appendBody(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, c.Echo)
	b = binary.BigEndian.AppendUint64(b, uint64(c.PingInUS))
	return binary.BigEndian.AppendUint64(b, uint64(c.OutUS))
}

func (a Ack) appendBody(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, a.Seq)
	if a.Ping != 0 {
		b = binary.BigEndian.AppendUint64(b, a.Ping)
	}
	return b
}

func (w Welcome) appendBody(b []byte) []byte      { return binary.BigEndian.AppendUint64(b, w.Acked) }
func (r Reject) appendBody(b []byte) []byte       { return appendString16(b, r.Reason) }
func (n Notice) appendBody(b []byte) []byte       { return appendString16(b, n.Message) }
func (r ReportStored) appendBody(b []byte) []byte { return appendString16(b, r.File) }

// recordHeaderLen is the type byte plus the length.
const recordHeaderLen = 1 + 4

// Append appends r, framed, to b. Long texts are cut to MaxMessageLen so
// an encoder never produces a record a decoder must refuse.
func Append(b []byte, r Record) []byte {
	switch v := r.(type) {
	case Reject:
		v.Reason = clip(v.Reason)
		r = v
	case Notice:
		v.Message = clip(v.Message)
		r = v
	case Log:
		v.Message = clip(v.Message)
		r = v
	case ReportStored:
		v.File = clip(v.File)
		r = v
	case BootReport:
		if len(v.Text) > MaxReportLen {
			const cut = "\n[report cut at the protocol's limit]\n"
			v.Text = v.Text[:MaxReportLen-len(cut)] + cut
		}
		r = v
	}
	start := len(b)
	b = append(b, byte(r.Type()), 0, 0, 0, 0)
	b = r.appendBody(b)
	binary.BigEndian.PutUint32(b[start+1:], uint32(len(b)-start-recordHeaderLen))
	return b
}

// AppendFrameHeader appends the record header and Frame fields (with
// f.NALs, if any) without the payload, so a sender can hand header and
// payload to writev without copying the access unit.
func AppendFrameHeader(b []byte, f Frame) []byte {
	b = append(b, byte(TypeFrame))
	n := frameHeaderLen + len(f.Payload)
	if f.NALs != nil {
		n += 2 + len(f.NALs)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = f.appendHeader(b)
	if f.NALs != nil {
		b = binary.BigEndian.AppendUint16(b, uint16(len(f.NALs)))
		b = append(b, f.NALs...)
	}
	return b
}

// AppendFrameHeaderStarts is AppendFrameHeader with a NAL table encoded
// from starts (the offset of each NAL unit's header byte in f.Payload,
// see NALTable) in place of f.NALs, for a sender that keeps its tables
// as offsets: it encodes straight into b, with no table of its own per
// frame. A table that would not fit (over MaxNALTable bytes, or the
// frame over maxFrame bytes of payload and table; 0 means
// DefaultLimits.MaxFrame) is left out, and so is an empty one: the
// receiver then finds the NAL units itself.
func AppendFrameHeaderStarts(b []byte, f Frame, starts []uint32, maxFrame int) []byte {
	f.NALs = nil
	if len(starts) == 0 {
		return AppendFrameHeader(b, f)
	}
	if maxFrame <= 0 {
		maxFrame = DefaultLimits.MaxFrame
	}
	start := len(b)
	b = AppendFrameHeader(b, f)
	b[len(b)-1] |= flagNALs
	b = append(b, 0, 0)
	tab := len(b)
	b = AppendNALTable(b, starts)
	n := len(b) - tab
	if n > MaxNALTable || len(f.Payload)+2+n > maxFrame {
		b = b[:tab-2]
		b[len(b)-1] &^= flagNALs
		return b
	}
	binary.BigEndian.PutUint16(b[tab-2:], uint16(n))
	binary.BigEndian.PutUint32(b[start+1:], uint32(frameHeaderLen+2+n+len(f.Payload)))
	return b
}

func clip(s string) string {
	if len(s) > MaxMessageLen {
		return s[:MaxMessageLen]
	}
	return s
}

// AppendPreamble appends Magic and this package's version.
func AppendPreamble(b []byte) []byte { return AppendPreambleMinor(b, Minor) }

// AppendPreambleMinor appends Magic and minor version minor: what an
// older sender sends, for tests of peers across versions.
func AppendPreambleMinor(b []byte, minor uint8) []byte {
	b = append(b, Magic...)
	return append(b, Major, minor)
}

// PreambleLen is the length of Magic plus the two version bytes.
const PreambleLen = len(Magic) + 2

// Write encodes r and writes it to w in one call.
func Write(w io.Writer, r Record) error {
	_, err := w.Write(Append(nil, r))
	return err
}

// SeqOf returns the sequence number of a sequenced record (for a Gap, the
// last one it stands for), and 0 for the others, which are not sequenced.
func SeqOf(r Record) uint64 {
	switch v := r.(type) {
	case Frame:
		return v.Seq
	case SegmentEnd:
		return v.Seq
	case Gap:
		return v.Seq
	}
	return 0
}
