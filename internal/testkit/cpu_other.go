//go:build !linux

package testkit

import (
	"errors"
	"time"
)

// ProcessCPU is Linux-only: it reads another process's CPU-time clock.
func ProcessCPU(pid int) (time.Duration, error) {
	return 0, errors.New("testkit.ProcessCPU: reading another process's CPU clock is implemented on Linux only")
}
