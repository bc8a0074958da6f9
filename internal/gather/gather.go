// Package gather writes many buffers to a file as one, without joining
// them first: the sinks write a fragment's samples, or a sync's worth of
// frames, from the payload buffers the receiver read them into.
//
// The standard library has no gathered write for files (net.Buffers
// uses writev(2) only for network connections and writes an *os.File
// buffer by buffer), so this is hand-written on x/sys/unix's Writev.
package gather

import "os"

// Write writes bufs to f in order, as if they were one buffer, in as few
// system calls as the platform allows: writev(2) on Linux (IOV_MAX
// buffers a call), elsewhere a copy into one buffer per chunk. A short
// write is continued, so Write may change bufs' elements (never the
// bytes they hold). Errors name the file, as os.File's do.
func Write(f *os.File, bufs [][]byte) (int64, error) {
	var total int64
	for len(bufs) > 0 {
		n, err := write(f, bufs[:min(len(bufs), maxBufs)])
		total += int64(n)
		if err != nil {
			return total, &os.PathError{Op: "write", Path: f.Name(), Err: err}
		}
		bufs = advance(bufs, n)
	}
	return total, nil
}

// maxBufs is IOV_MAX on Linux and the BSDs.
const maxBufs = 1024

// advance drops the first n bytes of bufs, and buffers left empty.
func advance(bufs [][]byte, n int) [][]byte {
	for len(bufs) > 0 && n >= len(bufs[0]) {
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	if len(bufs) > 0 && n > 0 {
		bufs[0] = bufs[0][n:]
	}
	return bufs
}
