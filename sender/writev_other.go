//go:build !linux

package sender

import "net"

// rawConn is Linux's alone (writev_linux.go): elsewhere the writer
// goroutine does every write.
type rawConn struct{}

func newRawConn(net.Conn) *rawConn { return nil }

func (*rawConn) writev(net.Buffers) (int, error) { return 0, nil }
