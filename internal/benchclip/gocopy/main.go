//go:build unix

// Command gocopy is the Go runtime's floor in the camera-pace benchmarks:
// the least a Go program can do to move the paced bytes, in nc's two
// roles, so the benchmark table can show, measured in the same round,
// how much of camwire's cost over nc any Go program pays and how much is
// camwire's own.
//
//	gocopy HOST:PORT   stdin → a TCP connection, like `nc HOST PORT`
//	gocopy -l          a TCP connection → stdout, like `nc -v -d -l 127.0.0.1 0`
//
// Both are a plain read/write loop through a 64 KiB buffer on Go's
// netpoller, the way camwire moves bytes: no splice or sendfile, which
// would skip the user-space copy that camwire (which must look at every
// frame) cannot. The sender reads stdin non-blocking through the poller,
// as camwire-init's exec source does, and at stdin's end keeps the
// connection open until SIGTERM, as nc without -N does. The listener
// takes a port of its own and names it on stderr in nc's words
// ("Listening on 127.0.0.1 PORT"), takes one connection, copies it to
// stdout until the peer closes, and exits 0.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gocopy:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fl := flag.NewFlagSet("gocopy", flag.ContinueOnError)
	listen := fl.Bool("l", false, "listen on 127.0.0.1, a free port, and copy one connection to stdout")
	if err := fl.Parse(args); err != nil {
		return err
	}
	switch {
	case *listen && fl.NArg() == 0:
		return receive()
	case !*listen && fl.NArg() == 1:
		return send(fl.Arg(0))
	}
	return errors.New("usage: gocopy HOST:PORT | gocopy -l")
}

// send copies stdin to a connection to addr, then waits for SIGTERM.
func send(addr string) error {
	if err := syscall.SetNonblock(0, true); err != nil {
		return fmt.Errorf("stdin: %w", err)
	}
	in := os.NewFile(0, "stdin") // non-blocking now, so on the poller
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	if err := copyLoop(c, in); err != nil {
		return err
	}
	select {} // the connection stays open; SIGTERM ends the process
}

// receive takes one connection and copies it to stdout.
func receive() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "Listening on 127.0.0.1 %d\n", ln.Addr().(*net.TCPAddr).Port)
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	ln.Close()
	defer c.Close()
	return copyLoop(os.Stdout, c)
}

// copyLoop is io.Copy without its ReaderFrom/WriterTo shortcuts (which
// would splice): read into one buffer, write it out.
func copyLoop(w io.Writer, r io.Reader) error {
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
