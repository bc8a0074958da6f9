package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// copyDirEnv makes the test binary the copy receiver (see TestMain).
const (
	copyDirEnv   = "CAMWIRE_BENCH_COPY_DIR"
	copyConnsEnv = "CAMWIRE_BENCH_COPY_CONNS"
)

// copyReceiver is BenchmarkCameras' baseline, the floor of any receiver
// of these streams: one process that takes conns connections on a
// loopback port (printed as "listening on ADDR") and copies each into a
// file of its own with io.Copy, which on Linux splices socket to file
// without a copy through user space; it parses nothing, acknowledges
// nothing and fsyncs each file once, at its end, then exits when every
// connection has ended. It runs as its own process (the test binary,
// re-executed) so that its CPU and peak RSS are measured apart from the
// cameras', like camwire-recv's.
func copyReceiver(dir string, conns int) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "listening on", ln.Addr())
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			errs <- copyConn(filepath.Join(dir, fmt.Sprintf("conn%03d.wire", i)), c)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func copyConn(path string, c net.Conn) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, c); err != nil {
		f.Close()
		return fmt.Errorf("copy into %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// copyMain runs the copy receiver if the environment asks for it, and
// exits.
func copyMain() {
	dir := os.Getenv(copyDirEnv)
	if dir == "" {
		return
	}
	n, err := strconv.Atoi(os.Getenv(copyConnsEnv))
	if err == nil {
		err = copyReceiver(dir, n)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "copy receiver:", err)
		os.Exit(1)
	}
	os.Exit(0)
}
