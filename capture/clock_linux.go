package capture

import (
	"time"

	"golang.org/x/sys/unix"
)

// Monotonic reads CLOCK_MONOTONIC: the clock bcm2835-v4l2 and vivid stamp
// their buffers with, so AUs from every source compare with each other.
func Monotonic() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		// Cannot fail on Linux for CLOCK_MONOTONIC; fall back to the process clock.
		return time.Since(processStart)
	}
	return time.Duration(ts.Nano())
}
