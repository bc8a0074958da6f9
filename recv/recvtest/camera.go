package recvtest

import (
	"bufio"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/camwire/camwire/wire"
)

// Handshake returns the bytes a sender that does not wait for the
// challenge sends first: preamble, hello and an empty Auth. Tests of
// misbehaving senders start with it.
func Handshake(hello wire.Hello) []byte {
	b := wire.AppendPreamble(nil)
	b = wire.Append(b, hello)
	return wire.Append(b, wire.Auth{})
}

// Camera is a framed camera under the test's control: each frame goes
// out when the test says, unlike a Stream's scripted run. Whatever the
// receiver sends after the Welcome (acks, notices) is read and dropped.
type Camera struct {
	Conn  net.Conn
	Hello wire.Hello
	seq   uint64
	buf   []byte
}

// Dial connects to a receiver without a key and does the handshake,
// within timeout. The camera starts a new stream: its first frame is
// seq 1.
func Dial(addr string, hello wire.Hello, timeout time.Duration) (*Camera, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	cam := &Camera{Conn: c, Hello: hello}
	rd := wire.NewReader(bufio.NewReader(c), wire.Limits{})
	if err := cam.handshake(rd, timeout); err != nil {
		c.Close()
		return nil, err
	}
	go func() {
		for {
			if _, err := rd.Next(); err != nil {
				return
			}
		}
	}()
	return cam, nil
}

func (cam *Camera) handshake(rd *wire.Reader, timeout time.Duration) error {
	c := cam.Conn
	c.SetDeadline(time.Now().Add(timeout))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(wire.Append(wire.AppendPreamble(nil), cam.Hello)); err != nil {
		return err
	}
	if r, err := rd.Next(); err != nil || r.Type() != wire.TypeChallenge {
		return fmt.Errorf("handshake: got %v, %v; want a challenge", r, err)
	}
	if err := wire.Write(c, wire.Auth{}); err != nil {
		return err
	}
	if r, err := rd.Next(); err != nil || r.Type() != wire.TypeWelcome {
		return fmt.Errorf("handshake: got %v, %v; want a welcome", r, err)
	}
	return nil
}

// SendFrame sends f as the stream's next frame: f.Seq is set to it.
func (cam *Camera) SendFrame(f wire.Frame) error {
	cam.seq++
	f.Seq = cam.seq
	cam.buf = wire.AppendFrameHeader(cam.buf[:0], f)
	_, err := cam.Conn.Write(slices.Concat(cam.buf, f.Payload))
	return err
}

// Send sends an unsequenced record (Stats, Log) as it is.
func (cam *Camera) Send(r wire.Record) error { return wire.Write(cam.Conn, r) }

// Close closes the connection.
func (cam *Camera) Close() error { return cam.Conn.Close() }
