package capture

import (
	"io"
	"os"

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
