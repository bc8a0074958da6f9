//go:build !linux

package coldplug

import (
	"errors"
	"time"
)

// Uevents exist on Linux only; elsewhere the Plugger rescans.
type ueventSocket struct{}

var errOverrun = errors.New("uevent: receive buffer overrun (events lost)")

var errIgnored = errors.New("uevent: not from the kernel")

func openUevents() (*ueventSocket, error) {
	return nil, errors.New("uevents: not supported on this system")
}

func (s *ueventSocket) read(time.Duration) (Uevent, error) { return Uevent{}, errors.ErrUnsupported }
func (s *ueventSocket) close() error                       { return nil }
