package sender

import (
	"net"
	"os"
	"syscall"
	"unsafe"

	"github.com/camwire/camwire/internal/rawio"
	"golang.org/x/sys/unix"
)

// rawConn writes to a connection's socket with writev(2) issued as a raw
// system call that never waits (write-through, see outlet). Not
// net.Buffers.WriteTo: that waits for room under the write deadline,
// which the capture goroutine must not, and it enters the system call
// the ordinary way, which on a process idle since the last frame wakes
// the runtime's sysmon thread (it then polls every 20 µs for about a
// millisecond: several context switches a frame). The socket is
// non-blocking (every net.Conn's is; checked), so a raw call cannot
// block. Neither net nor x/sys offers this; hence the code.
type rawConn struct {
	rc  syscall.RawConn
	iov []unix.Iovec // scratch, cleared after each call
	// The call's results, fields so that the function handed to
	// rc.Control is made once (a closure per call allocated).
	n       uintptr
	errno   syscall.Errno
	writeFn func(fd uintptr)
}

// newRawConn returns conn's raw writer, or nil when conn has no
// non-blocking descriptor (then the writer goroutine does every write).
func newRawConn(conn net.Conn) *rawConn {
	rc, ok := rawio.NonBlocking(conn)
	if !ok {
		return nil
	}
	w := &rawConn{rc: rc}
	w.writeFn = w.write
	return w
}

// write is one writev(2) of w.iov.
func (w *rawConn) write(fd uintptr) {
	for {
		w.n, _, w.errno = unix.RawSyscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.iov[0])), uintptr(len(w.iov)))
		if w.errno != unix.EINTR {
			return
		}
	}
}

// maxIOV is Linux's IOV_MAX: a longer writev fails with EINVAL, so only
// that many buffers go in one call (the rest is a partial write).
const maxIOV = 1024

// writev writes as much of v as the socket takes now and returns how
// many bytes that was (0 when it is full).
func (w *rawConn) writev(v net.Buffers) (int, error) {
	for _, b := range v {
		if len(b) == 0 {
			continue
		}
		if len(w.iov) == maxIOV {
			break
		}
		iov := unix.Iovec{Base: &b[0]}
		iov.SetLen(len(b))
		w.iov = append(w.iov, iov)
	}
	if len(w.iov) == 0 {
		return 0, nil
	}
	// Control, not Write: Write would refuse at once once a deadline the
	// writer goroutine set has passed, and this call needs none.
	w.n, w.errno = 0, 0
	err := w.rc.Control(w.writeFn)
	clear(w.iov) // drop payload pointers: acked payloads may be freed
	w.iov = w.iov[:0]
	switch {
	case err != nil:
		return 0, err
	case w.errno == unix.EAGAIN:
		return 0, nil
	case w.errno != 0:
		return 0, os.NewSyscallError("writev", w.errno)
	}
	return int(w.n), nil
}
