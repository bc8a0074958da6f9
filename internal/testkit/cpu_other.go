//go:build !linux

package testkit

import (
	"errors"
	"testing"
	"time"
)

// ProcessCPU is Linux-only: it reads another process's CPU-time clock.
func ProcessCPU(pid int) (time.Duration, error) {
	return 0, errors.New("testkit.ProcessCPU: reading another process's CPU clock is implemented on Linux only")
}

// CPUOf is ProcessCPU that fails tb when the clock cannot be read.
func CPUOf(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	d, err := ProcessCPU(pid)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}
