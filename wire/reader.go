package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// Version is a protocol version from a preamble.
type Version struct{ Major, Minor uint8 }

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// ParsePreamble checks the first PreambleLen bytes of a connection. It
// returns ErrNotFramed when b does not start with Magic, and ErrVersion
// (with the version) when the major version is not ours.
func ParsePreamble(b []byte) (Version, error) {
	if len(b) < PreambleLen || string(b[:len(Magic)]) != Magic {
		return Version{}, ErrNotFramed
	}
	v := Version{b[len(Magic)], b[len(Magic)+1]}
	if v.Major != Major {
		return v, fmt.Errorf("%w: peer speaks %s, this side speaks %d.%d", ErrVersion, v, Major, Minor)
	}
	return v, nil
}

// IsMagicPrefix reports whether b could still be the start of Magic. A
// receiver peeks byte by byte and decides "raw" at the first mismatch, so
// a raw stream shorter than the magic is still recorded.
func IsMagicPrefix(b []byte) bool {
	n := min(len(b), len(Magic))
	return string(b[:n]) == Magic[:n]
}

// Reader decodes records from a stream. It is not safe for concurrent use.
type Reader struct {
	r      *bufio.Reader
	limits Limits
	buf    []byte
	// get, if set, gives each Frame's payload a buffer of its own (see
	// ReadPayloadsInto); r then reads through src.
	get func(n int) []byte
	src *drainReader
	// hdr and head hold a record's header and a frame's fields before
	// its payload. They are fields, not Next's locals: io.ReadFull's
	// reader is an interface, so a local escaped and cost an allocation
	// per record, garbage a camera-paced receiver made 30 times a
	// second for nothing.
	hdr  [recordHeaderLen]byte
	head [frameHeaderLen + 2]byte
}

// NewReader decodes from r under limits; zero fields take DefaultLimits.
// The caller reads and checks the preamble before the first Next.
func NewReader(r io.Reader, limits Limits) *Reader {
	if limits.MaxFrame <= 0 {
		limits.MaxFrame = DefaultLimits.MaxFrame
	}
	if limits.MaxControl <= 0 {
		limits.MaxControl = DefaultLimits.MaxControl
	}
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	return &Reader{r: br, limits: limits}
}

// directHead is the buffer records are read through once payloads go
// straight into their own buffers (ReadPayloadsInto): it holds a record
// header plus what the same read brings of the payload after it, so a
// frame costs about two reads and at most this many bytes copied by hand.
const directHead = 512

// ReadPayloadsInto makes Next read each Frame's payload into a buffer of
// its own: get(n) returns a slice of length n, which Next fills and never
// touches again, so the Frame's Payload belongs to the caller and can be
// kept without a copy. A frame's NAL table (1.3) lies in the same
// buffer, after the payload: Payload is the buffer's start, with its cap. raw must be what the *bufio.Reader given to
// NewReader reads from: once that buffer's bytes are used up, records
// come from raw through a small buffer and each payload is read from raw
// straight into its own buffer. The kernel then copies every payload byte
// once, into the memory that is stored from; the default, a payload
// aliasing a buffer that the next Next overwrites, costs two more copies
// (into the bufio.Reader, then out of it) for a caller that keeps it.
// Call it before the first Next that may return a Frame; the
// bufio.Reader must not be read by anyone else afterwards. A Next that
// fails inside a frame's payload (connection cut) has called get and
// returns no Frame: the buffer is the caller's again, to reuse.
func (rd *Reader) ReadPayloadsInto(get func(n int) []byte, raw io.Reader) {
	rd.get = get
	rd.src = &drainReader{br: rd.r, raw: raw}
	rd.r = bufio.NewReaderSize(rd.src, directHead)
}

// drainReader reads what br has buffered, then raw: br's buffer is
// dropped once empty (the connection's big handshake buffer), and the
// Reader's small buffer and the payloads read raw directly.
type drainReader struct {
	br  *bufio.Reader
	raw io.Reader
}

func (d *drainReader) Read(p []byte) (int, error) {
	if d.br != nil {
		if n := d.br.Buffered(); n > 0 {
			return d.br.Read(p[:min(n, len(p))])
		}
		d.br = nil
	}
	return d.raw.Read(p)
}

// ReadPreamble reads and checks the preamble (see ParsePreamble).
func (rd *Reader) ReadPreamble() (Version, error) {
	b := make([]byte, PreambleLen)
	if n, err := io.ReadFull(rd.r, b); err != nil {
		switch {
		case !IsMagicPrefix(b[:n]) || n == 0:
			return Version{}, ErrNotFramed
		case errors.Is(err, io.ErrUnexpectedEOF):
			return Version{}, fmt.Errorf("%w: preamble cut short after %d bytes", ErrMalformed, n)
		}
		return Version{}, err
	}
	return ParsePreamble(b)
}

// Next reads one record. A Frame's Payload aliases an internal buffer that
// the following Next overwrites. io.EOF means the peer closed cleanly
// between records; io.ErrUnexpectedEOF means inside one.
func (rd *Reader) Next() (Record, error) {
	hdr := rd.hdr[:]
	if _, err := io.ReadFull(rd.r, hdr); err != nil {
		return nil, err
	}
	t := Type(hdr[0])
	n := binary.BigEndian.Uint32(hdr[1:])
	limit := rd.limits.MaxControl
	switch t {
	case TypeFrame:
		limit = rd.limits.MaxFrame + frameHeaderLen
	case TypeBootReport:
		limit = max(limit, 4+MaxReportLen)
	}
	if uint64(n) > uint64(limit) {
		return nil, fmt.Errorf("%w: %s of %d bytes, limit %d", ErrTooLarge, t, n, limit)
	}
	if t == TypeFrame && rd.get != nil && n >= frameHeaderLen {
		return rd.frameInto(int(n))
	}
	if cap(rd.buf) < int(n) {
		rd.buf = make([]byte, n, max(int(n), 2*cap(rd.buf)))
	}
	body := rd.buf[:n]
	if _, err := io.ReadFull(rd.r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return Decode(t, body)
}

// frameInto reads a Frame body of n bytes with its payload into a buffer
// from get: what the small buffer holds is copied, the rest read from the
// connection straight into place.
func (rd *Reader) frameInto(n int) (Record, error) {
	head := rd.head[:]
	if _, err := io.ReadFull(rd.r, head[:frameHeaderLen]); err != nil {
		return nil, unexpected(err)
	}
	d := decoder{b: head[:frameHeaderLen]}
	f, nals := d.frameHeader()
	n -= frameHeaderLen
	tab := 0
	if nals {
		if n < 2 {
			return nil, fmt.Errorf("%w: frame: NAL table length cut off", ErrMalformed)
		}
		if _, err := io.ReadFull(rd.r, head[frameHeaderLen:]); err != nil {
			return nil, unexpected(err)
		}
		tab = int(binary.BigEndian.Uint16(head[frameHeaderLen:]))
		n -= 2
		if tab > n {
			return nil, fmt.Errorf("%w: frame: NAL table of %d bytes in %d", ErrMalformed, tab, n)
		}
	}
	// One buffer holds the payload and, after it, the table (which
	// comes first on the wire), so the payload starts the buffer and
	// whoever recycles payloads recycles the table's memory with it.
	p := rd.get(n)
	plen := n - tab
	if nals {
		if _, err := io.ReadFull(rd.r, p[plen:]); err != nil {
			return nil, unexpected(err)
		}
		f.NALs = p[plen:n:n]
	}
	p = p[:plen]
	k := 0
	if b := rd.r.Buffered(); b > 0 {
		k, _ = rd.r.Read(p[:min(b, len(p))]) // from the buffer: no error
	}
	if _, err := io.ReadFull(rd.src, p[k:]); err != nil {
		return nil, unexpected(err)
	}
	f.Payload = p
	return f, nil
}

// unexpected is err from inside a record: EOF there is ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Decode parses one record body of type t. Frame payloads alias body.
func Decode(t Type, body []byte) (Record, error) {
	d := decoder{b: body}
	var r Record
	switch t {
	case TypeHello:
		var h Hello
		h.Name = d.string8()
		copy(h.StreamID[:], d.bytes(StreamIDLen))
		h.Codec = d.string8()
		h.Width = d.u16()
		h.Height = d.u16()
		h.FPSNum = d.u32()
		h.FPSDen = d.u32()
		r = h
	case TypeAuth:
		if len(body) != 0 && len(body) != MACLen {
			return nil, fmt.Errorf("%w: auth of %d bytes, want 0 or %d", ErrMalformed, len(body), MACLen)
		}
		var a Auth
		if len(body) > 0 {
			a.MAC = body
		}
		r = a
	case TypeFrame:
		f, nals := d.frameHeader()
		if nals {
			f.NALs = d.bytes(int(d.u16()))
		}
		f.Payload = d.rest()
		r = f
	case TypeSegmentEnd:
		r = SegmentEnd{Seq: d.u64(), Segment: d.u32(), Frames: d.u32()}
	case TypeGap:
		g := Gap{Seq: d.u64(), First: d.u64(), Frames: d.u32()}
		if d.err == nil && (g.First == 0 || g.First > g.Seq) {
			return nil, fmt.Errorf("%w: gap %d..%d", ErrMalformed, g.First, g.Seq)
		}
		r = g
	case TypeStats:
		var s Stats
		s.Captured, s.Sent, s.Acked, s.Dropped = d.u64(), d.u64(), d.u64(), d.u64()
		s.BufferUsed, s.BufferSize = d.u64(), d.u64()
		s.TempMilliC = int32(d.u32())
		r = s
	case TypeLog:
		r = Log{Level: d.u8(), Message: d.string16()}
	case TypeBootReport:
		n := d.u32()
		if n > MaxReportLen && d.err == nil {
			return nil, fmt.Errorf("%w: boot report of %d bytes, limit %d", ErrMalformed, n, MaxReportLen)
		}
		r = BootReport{Text: string(d.bytes(int(n)))}
	case TypeClock:
		r = Clock{Echo: d.u64(), PingInUS: int64(d.u64()), OutUS: int64(d.u64())}
	case TypeChallenge:
		var c Challenge
		copy(c.Nonce[:], d.bytes(NonceLen))
		c.AuthRequired = d.u8() != 0
		if len(d.b) > 0 { // absent from a 1.0 receiver
			c.Minor = d.u8()
		}
		if len(d.b) >= 8 { // absent before 1.2, or without a ping
			c.Ping = d.u64()
		}
		r = c
	case TypeWelcome:
		r = Welcome{Acked: d.u64()}
	case TypeAck:
		a := Ack{Seq: d.u64()}
		if len(d.b) >= 8 { // absent before 1.2, or without a ping
			a.Ping = d.u64()
		}
		r = a
	case TypeReject:
		r = Reject{Reason: d.string16()}
	case TypeNotice:
		r = Notice{Message: d.string16()}
	case TypeReportStored:
		r = ReportStored{File: d.string16()}
	default:
		return nil, fmt.Errorf("%w: 0x%02x", ErrUnknownType, uint8(t))
	}
	if d.err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, t, d.err)
	}
	return r, nil
}

// frameHeader reads a Frame's fields before its payload and reports
// whether a NAL table (flagNALs) comes next.
func (d *decoder) frameHeader() (f Frame, nals bool) {
	f.Seq = d.u64()
	f.Segment = d.u32()
	f.TimeUS = int64(d.u64())
	flags := d.u8()
	f.Key = flags&flagKey != 0
	return f, flags&flagNALs != 0
}

// decoder reads fields and remembers the first shortfall, so Decode checks
// once instead of after every field.
type decoder struct {
	b   []byte
	err error
}

var errShort = errors.New("body too short")

func (d *decoder) bytes(n int) []byte {
	if d.err != nil || len(d.b) < n {
		d.err = errShort
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() uint8 {
	if b := d.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) u16() uint16 {
	if b := d.bytes(2); b != nil {
		return binary.BigEndian.Uint16(b)
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if b := d.bytes(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if b := d.bytes(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

func (d *decoder) string8() string  { return string(d.bytes(int(d.u8()))) }
func (d *decoder) string16() string { return d.text(int(d.u16())) }

func (d *decoder) text(n int) string {
	if n > MaxMessageLen && d.err == nil {
		d.err = fmt.Errorf("text of %d bytes, limit %d", n, MaxMessageLen)
		return ""
	}
	return string(d.bytes(n))
}

func (d *decoder) rest() []byte {
	if d.err != nil {
		return nil
	}
	v := d.b
	d.b = nil
	return v
}

// TempUnknown is Stats.TempMilliC when the sender has no temperature.
const TempUnknown = math.MinInt32
