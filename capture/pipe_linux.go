package capture

import (
	"io"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// pipeSize is what the camera command's stdout pipe is grown to: Linux's
// default limit for an unprivileged process (/proc/sys/fs/pipe-max-size).
// A 64 KiB pipe holds about one 16 Mbit/s frame, so every frame costs the
// command a wake-up and the recorder a read; a command that writes ahead
// (cat, ffmpeg on a file, a camera catching up after a stall) now hands
// over up to 1 MiB per read. It adds no latency: a read returns what is
// there.
const pipeSize = 1 << 20

// growPipe enlarges the pipe r reads from, best effort: a kernel that
// refuses (a per-user pipe quota) leaves the default, which only costs CPU.
func growPipe(r io.Reader) error {
	f, ok := r.(*os.File)
	if !ok {
		return nil
	}
	c, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := c.Control(func(fd uintptr) {
		_, ferr = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, pipeSize)
	}); err != nil {
		return err
	}
	return ferr
}

// rawPipe reads the camera command's stdout, a non-blocking pipe, with
// read(2) issued as a raw system call inside the runtime poller's wait
// (RawConn.Read: it parks the goroutine on EAGAIN, as os.File.Read does).
// os.File.Read enters the system call the ordinary way, and the first
// system call after the process was idle wakes the runtime's sysmon
// thread, which then polls every 20 µs for about a millisecond: at
// camera pace, where every frame finds the recorder idle, that was half
// its context switches. A raw call on a non-blocking descriptor cannot
// block, so nothing needs sysmon to take the processor back. Neither the
// os package nor x/sys offers such a read; hence this.
type rawPipe struct {
	rc   syscall.RawConn
	name string
	// The read's argument and results, fields so that the function
	// handed to rc.Read is made once (a closure per Read allocated).
	buf    []byte
	n      uintptr
	errno  syscall.Errno
	readFn func(fd uintptr) bool
}

// pipeReader returns a reader of r that does not wake sysmon: a rawPipe
// when r is a non-blocking *os.File (the pipe os/exec makes), else r.
func pipeReader(r io.Reader) io.Reader {
	f, ok := r.(*os.File)
	if !ok {
		return r
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return r
	}
	nonblock := false
	if err := rc.Control(func(fd uintptr) {
		fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
		nonblock = err == nil && fl&unix.O_NONBLOCK != 0
	}); err != nil || !nonblock {
		return r // a blocking raw read would hold the processor
	}
	p := &rawPipe{rc: rc, name: f.Name()}
	p.readFn = p.read
	return p
}

// read is one read(2); false on EAGAIN, so that rc.Read waits for the poller.
func (p *rawPipe) read(fd uintptr) bool {
	for {
		p.n, _, p.errno = unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&p.buf[0])), uintptr(len(p.buf)))
		switch p.errno {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false
		}
		return true
	}
}

func (p *rawPipe) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	p.buf = b
	err := p.rc.Read(p.readFn)
	p.buf = nil
	switch {
	case err != nil:
		return 0, err
	case p.errno != 0:
		return 0, &os.PathError{Op: "read", Path: p.name, Err: p.errno}
	case p.n == 0:
		return 0, io.EOF
	}
	return int(p.n), nil
}
