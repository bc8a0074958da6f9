// Command logger writes each argument as a line on stderr, then waits for
// SIGTERM and exits 0: a program for testkit's own tests.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	for _, a := range os.Args[1:] {
		fmt.Fprintln(os.Stderr, a)
	}
	<-sig
}
