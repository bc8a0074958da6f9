package testkit

import (
	"testing"
	"time"
)

// CPUOf is ProcessCPU that fails tb when the clock cannot be read (the
// process was reaped already).
func CPUOf(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	d, err := ProcessCPU(pid)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}
