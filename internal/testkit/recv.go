package testkit

import (
	"regexp"
	"testing"
	"time"
)

// RecvProc is a camwire-recv process and the address it listens on.
type RecvProc struct {
	*Proc
	Addr string
}

// listenRE finds the address in camwire-recv's first log line.
var listenRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// StartRecv builds camwire-recv (once) and runs it with -listen listen
// (127.0.0.1:0 when listen is "") and args, and returns once it logs the
// address it listens on: a free port the kernel chose, so no test races
// another for it. Listen on a returned Addr again to restart a receiver
// in the same place.
func StartRecv(tb testing.TB, listen string, args ...string) *RecvProc {
	tb.Helper()
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	p := Start(tb, Build(tb, Recv), append([]string{"-listen", listen}, args...)...)
	m := p.WaitLog(tb, listenRE, 20*time.Second)
	return &RecvProc{Proc: p, Addr: m[1]}
}
