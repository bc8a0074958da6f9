//go:build !linux

package rawio

import "syscall"

// reader is Linux's alone (rawio_linux.go): elsewhere reads are the
// ordinary ones.
type reader struct{}

func newReader(any) *reader { return nil }

func (*reader) read([]byte) (int, error) { return 0, nil }

// NonBlocking is false here: raw system calls are used on Linux only.
func NonBlocking(any) (syscall.RawConn, bool) { return nil, false }
