//go:build !linux

package gather

import "os"

// chunk bounds the copy a write joins its buffers into.
const chunk = 1 << 20

// write joins as many of bufs as fit in chunk (at least one) and writes
// them with one Write: the platform has no writev for files here (or
// x/sys/unix does not offer it), and a Write per buffer would cost a
// system call per NAL unit.
func write(f *os.File, bufs [][]byte) (int, error) {
	if len(bufs[0]) >= chunk {
		return f.Write(bufs[0])
	}
	b := make([]byte, 0, chunk)
	for _, p := range bufs {
		if len(b)+len(p) > chunk {
			break
		}
		b = append(b, p...)
	}
	return f.Write(b)
}
