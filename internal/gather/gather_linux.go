package gather

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// write is one writev(2) of bufs (at most maxBufs), retried on EINTR.
func write(f *os.File, bufs [][]byte) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var werr error
	// A regular file is not pollable: Write calls the function once.
	if err := rc.Write(func(fd uintptr) bool {
		for {
			n, werr = unix.Writev(int(fd), bufs)
			if !errors.Is(werr, unix.EINTR) {
				return true
			}
		}
	}); err != nil {
		return 0, err
	}
	if n < 0 {
		n = 0
	}
	if werr == nil && n == 0 && size(bufs) > 0 {
		werr = errors.New("writev wrote nothing")
	}
	return n, werr
}

func size(bufs [][]byte) int {
	n := 0
	for _, b := range bufs {
		n += len(b)
	}
	return n
}
