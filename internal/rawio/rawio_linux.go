package rawio

import (
	"io"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// reader is one descriptor's raw read(2). The read's argument and
// results are fields so that the function handed to RawConn.Read is made
// once (a closure per Read allocated).
type reader struct {
	rc     syscall.RawConn
	buf    []byte
	n      uintptr
	errno  syscall.Errno
	readFn func(fd uintptr) bool
}

// NonBlocking returns v's raw connection when v has a descriptor in
// non-blocking mode (every *net.TCPConn's, the pipes os/exec makes), else
// false: only on such a descriptor can a raw system call never block,
// which would hold the processor. The sender's raw writev checks with it
// too.
func NonBlocking(v any) (syscall.RawConn, bool) {
	sc, ok := v.(syscall.Conn)
	if !ok {
		return nil, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, false
	}
	nonblock := false
	if err := rc.Control(func(fd uintptr) {
		fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
		nonblock = err == nil && fl&unix.O_NONBLOCK != 0
	}); err != nil || !nonblock {
		return nil, false
	}
	return rc, true
}

// newReader returns r's raw reader, or nil when r has no non-blocking
// descriptor.
func newReader(r any) *reader {
	rc, ok := NonBlocking(r)
	if !ok {
		return nil
	}
	rr := &reader{rc: rc}
	rr.readFn = rr.readFd
	return rr
}

// readFd is one read(2); false on EAGAIN, so that RawConn.Read waits for
// the poller.
func (r *reader) readFd(fd uintptr) bool {
	for {
		r.n, _, r.errno = unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&r.buf[0])), uintptr(len(r.buf)))
		switch r.errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		return true
	}
}

// read is not safe for concurrent use (neither is reading one stream
// from two goroutines).
func (r *reader) read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	r.buf = b
	err := r.rc.Read(r.readFn)
	r.buf = nil
	switch {
	case err != nil:
		return 0, err
	case r.errno != 0:
		return 0, os.NewSyscallError("read", r.errno)
	case r.n == 0:
		return 0, io.EOF
	}
	return int(r.n), nil
}
