//go:build !linux

package capture

import "io"

// growPipe needs Linux's F_SETPIPE_SZ; elsewhere the pipe stays as it is.
func growPipe(io.Reader) error { return nil }

// pipeReader is r: the raw read that spares Linux's sysmon wake-ups is
// Linux's alone.
func pipeReader(r io.Reader) io.Reader { return r }
