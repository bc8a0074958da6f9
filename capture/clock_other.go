//go:build !linux

package capture

import "time"

// Monotonic is time since the process started (Go's monotonic clock);
// only Linux has a camera driver whose timestamps it must match.
func Monotonic() time.Duration {
	return time.Since(processStart)
}
