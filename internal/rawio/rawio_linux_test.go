package rawio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestReaderPipe: a command's pipe is read with raw read(2) calls; what
// the writer wrote arrives in order, a read waits for data that comes
// later, and the writer's close is io.EOF. A pipe made blocking (Fd does
// that) keeps os.File.Read: a raw blocking read would hold the processor.
func TestReaderPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	in := Reader(r)
	if _, ok := in.(readerFunc); !ok {
		t.Fatalf("Reader(os.Pipe()) = %T, want the raw reader", in)
	}
	want := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 kB: more than one pipe's worth
	go func() {
		for i := 0; i < len(want); i += 50000 {
			w.Write(want[i:min(i+50000, len(want))])
		}
		w.Close()
	}()
	got, err := io.ReadAll(in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("read %d bytes that are not the %d written", len(got), len(want))
	}

	br, bw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	defer bw.Close()
	br.Fd() // sets the descriptor blocking
	if in := Reader(br); in != io.Reader(br) {
		t.Errorf("Reader(blocking pipe) = %T, want the *os.File itself", in)
	}
	if in := Reader(bytes.NewReader(nil)); in == nil {
		t.Error("Reader(bytes.Reader) = nil, want it back")
	}
}

// tcpPair is a connected loopback pair: the client wrapped by Conn, the
// server's side plain.
func tcpPair(t *testing.T) (c net.Conn, s *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c = Conn(raw)
	if _, ok := c.(*conn); !ok {
		t.Fatalf("Conn(*net.TCPConn) = %T, want the raw-reading conn", c)
	}
	t.Cleanup(func() { c.Close(); sc.Close() })
	return c, sc.(*net.TCPConn)
}

// TestConnReads: bytes arrive in order across many reads, and the peer's
// close is io.EOF, as from net.
func TestConnReads(t *testing.T) {
	c, s := tcpPair(t)
	want := bytes.Repeat([]byte("camwire!"), 100000) // 800 kB: many reads
	go func() {
		s.Write(want)
		s.Close()
	}()
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("ReadAll = %d bytes, %v; want the %d written and EOF", len(got), err, len(want))
	}
	if n, err := c.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Errorf("Read after EOF = %d, %v; want 0, io.EOF", n, err)
	}
}

// TestConnErrors: the errors callers test for are net's: a passed
// deadline is a timeout (os.ErrDeadlineExceeded, net.Error.Timeout), a
// connection closed under a waiting read is net.ErrClosed, a reset is
// ECONNRESET; each is a *net.OpError naming the read.
func TestConnErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		do   func(c net.Conn, s *net.TCPConn)
		is   error
	}{
		{"deadline", func(c net.Conn, _ *net.TCPConn) { c.SetReadDeadline(time.Now().Add(-time.Second)) }, os.ErrDeadlineExceeded},
		{"closed", func(c net.Conn, _ *net.TCPConn) { time.AfterFunc(20*time.Millisecond, func() { c.Close() }) }, net.ErrClosed},
		{"reset", func(_ net.Conn, s *net.TCPConn) {
			s.SetLinger(0) // close sends RST
			s.Close()
		}, syscall.ECONNRESET},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, s := tcpPair(t)
			tc.do(c, s)
			_, err := c.Read(make([]byte, 64))
			var op *net.OpError
			if !errors.Is(err, tc.is) || !errors.As(err, &op) || op.Op != "read" {
				t.Fatalf("Read = %v, want a read *net.OpError wrapping %v", err, tc.is)
			}
			var ne net.Error
			if timeout := errors.As(err, &ne) && ne.Timeout(); timeout != (tc.is == os.ErrDeadlineExceeded) {
				t.Errorf("Read error %v: Timeout() = %v", err, timeout)
			}
		})
	}
}

// TestConnReadAllocs: a read that gets data allocates nothing (the
// function handed to the poller is made once).
func TestConnReadAllocs(t *testing.T) {
	c, s := tcpPair(t)
	buf := make([]byte, 1024)
	chunk := make([]byte, 1024)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := s.Write(chunk); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per read, want 0", allocs)
	}
}
