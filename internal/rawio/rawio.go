// Package rawio reads non-blocking descriptors (a TCP connection, a
// command's pipe) with read(2) issued as a raw system call inside the Go
// runtime poller's wait, instead of the ordinary way os.File and net.Conn
// do.
//
// Why: the first ordinary system call after a Go process was idle wakes
// the runtime's sysmon thread, which then polls every 20 µs for about a
// millisecond before it sleeps again. At camera pace (30 frames a
// second) every frame finds the recorder and the receiver idle, so each
// frame paid several context switches for sysmon alone: half the
// recorder's, and a fifth of the receiver's CPU at camera pace. A raw
// call on a non-blocking descriptor cannot block, so nothing needs sysmon
// to take the processor back; syscall.RawConn.Read parks the goroutine
// on EAGAIN exactly as the ordinary read does, and honours deadlines.
// Neither os, net nor x/sys offers such a read; hence this package.
package rawio

import (
	"io"
	"net"
)

// Conn returns c with its Read done by a Reader when c is a connection
// with a non-blocking descriptor (every *net.TCPConn on Linux), else c
// itself. Everything but Read is c's own. Read's errors are *net.OpError
// as net's are, wrapping the same errors (os.ErrDeadlineExceeded,
// net.ErrClosed, the errno as an *os.SyscallError), and io.EOF at the
// end.
func Conn(c net.Conn) net.Conn {
	r := newReader(c)
	if r == nil {
		return c
	}
	return &conn{Conn: c, r: r}
}

type conn struct {
	net.Conn
	r *reader
}

func (c *conn) Read(b []byte) (int, error) {
	n, err := c.r.read(b)
	if err != nil && err != io.EOF {
		err = &net.OpError{Op: "read", Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	}
	return n, err
}

// Reader returns a reader of r that reads as Conn's does when r is a
// non-blocking descriptor (the pipe os/exec makes is one), else r.
// Errors other than io.EOF are the poller's (os.ErrDeadlineExceeded,
// os.ErrClosed) or an *os.SyscallError.
func Reader(r io.Reader) io.Reader {
	if rr := newReader(r); rr != nil {
		return readerFunc(rr.read)
	}
	return r
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(b []byte) (int, error) { return f(b) }
