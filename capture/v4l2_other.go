//go:build !linux

package capture

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/camwire/camwire/segment"
)

// ErrNoV4L2 is returned by V4L2 capture outside Linux.
var ErrNoV4L2 = errors.New("v4l2 capture needs Linux")

// Run implements Source; outside Linux it fails at once.
func (v *V4L2) Run(ctx context.Context, emit func(segment.AU)) error {
	return fmt.Errorf("%s on %s: %w", v.device(), runtime.GOOS, ErrNoV4L2)
}

// ProbeV4L2 streams n frames from dev; outside Linux it fails at once.
func ProbeV4L2(ctx context.Context, dev string, n int) ([]time.Duration, error) {
	return nil, fmt.Errorf("%s on %s: %w", dev, runtime.GOOS, ErrNoV4L2)
}

// OpenDevice fails outside Linux.
func OpenDevice(path string) (Device, error) {
	return nil, fmt.Errorf("%s on %s: %w", path, runtime.GOOS, ErrNoV4L2)
}
