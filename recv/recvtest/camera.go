package recvtest

import (
	"bufio"
	"fmt"
	"net"
	"time"

	"github.com/camwire/camwire/wire"
)

// Handshake returns the bytes a sender that does not wait for the
// challenge sends first: preamble, hello and an empty Auth. Tests of
// misbehaving senders start with it. It speaks protocol 1.1, which has
// no clock answer to wait for.
func Handshake(hello wire.Hello) []byte {
	b := wire.AppendPreambleMinor(nil, 1)
	b = wire.Append(b, hello)
	return wire.Append(b, wire.Auth{})
}

// Camera is a framed camera under the test's control: each record goes
// out when the test says, unlike a Stream's scripted run, and the test
// reads what the receiver sends back with Next, or drops it with
// Discard.
type Camera struct {
	Conn      net.Conn
	Hello     wire.Hello
	Challenge wire.Challenge // as the receiver sent it
	rd        *wire.Reader
	seq       uint64
	buf       []byte
}

// Dial connects to a receiver without a key and does the handshake,
// within timeout. The camera starts a new stream: its first frame is
// seq 1.
func Dial(addr string, hello wire.Hello, timeout time.Duration) (*Camera, error) {
	return DialFrom("", addr, hello, timeout)
}

// DialFrom is Dial from the local IP address local ("" for any), e.g.
// 127.0.0.2 to stand for a second camera host on loopback.
func DialFrom(local, addr string, hello wire.Hello, timeout time.Duration) (*Camera, error) {
	d := net.Dialer{Timeout: timeout}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	cam := &Camera{Conn: c, Hello: hello, rd: wire.NewReader(bufio.NewReader(c), wire.Limits{})}
	if err := cam.handshake(timeout); err != nil {
		c.Close()
		return nil, err
	}
	return cam, nil
}

func (cam *Camera) handshake(timeout time.Duration) error {
	c := cam.Conn
	c.SetDeadline(time.Now().Add(timeout))
	defer c.SetDeadline(time.Time{})
	// Protocol 1.1: the camera has no capture clock to answer 1.2's
	// pings with, so its files are named by arrival time.
	if _, err := c.Write(wire.Append(wire.AppendPreambleMinor(nil, 1), cam.Hello)); err != nil {
		return err
	}
	r, err := cam.rd.Next()
	if err != nil {
		return fmt.Errorf("handshake: waiting for the challenge: %w", err)
	}
	ch, ok := r.(wire.Challenge)
	if !ok {
		return fmt.Errorf("handshake: got %s, want a challenge", r.Type())
	}
	cam.Challenge = ch
	if err := wire.Write(c, wire.Auth{}); err != nil {
		return err
	}
	if r, err := cam.rd.Next(); err != nil || r.Type() != wire.TypeWelcome {
		return fmt.Errorf("handshake: got %v, %v; want a welcome", r, err)
	}
	return nil
}

// Next reads the next record the receiver sends (Ack, Notice,
// ReportStored, ...), waiting at most timeout.
func (cam *Camera) Next(timeout time.Duration) (wire.Record, error) {
	cam.Conn.SetReadDeadline(time.Now().Add(timeout))
	defer cam.Conn.SetReadDeadline(time.Time{})
	return cam.rd.Next()
}

// Discard reads and drops everything the receiver sends from now on, for
// tests that only send. Next must not be called afterwards.
func (cam *Camera) Discard() {
	go func() {
		for {
			if _, err := cam.rd.Next(); err != nil {
				return
			}
		}
	}()
}

// SendFrame sends f as the stream's next frame: f.Seq is set to it.
func (cam *Camera) SendFrame(f wire.Frame) error {
	cam.seq++
	f.Seq = cam.seq
	cam.buf = wire.AppendFrameHeader(cam.buf[:0], f)
	// One gathered write (writev), no copy: a benchmark running 128 of
	// these must not spend its CPU concatenating payloads.
	bufs := net.Buffers{cam.buf, f.Payload}
	_, err := bufs.WriteTo(cam.Conn)
	return err
}

// Send sends an unsequenced record (Stats, Log, BootReport) as it is.
func (cam *Camera) Send(r wire.Record) error { return wire.Write(cam.Conn, r) }

// Close closes the connection.
func (cam *Camera) Close() error { return cam.Conn.Close() }
