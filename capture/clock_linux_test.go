package capture

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func clockGettime(t *testing.T) time.Duration {
	t.Helper()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ts.Nano())
}

// TestMonotonicIsClockMonotonic: Monotonic, read through Go's clock, lies
// between two CLOCK_MONOTONIC readings taken around it, give or take the
// calibration's own bound: it is the clock V4L2 stamps buffers with.
func TestMonotonicIsClockMonotonic(t *testing.T) {
	for range 100 {
		before := clockGettime(t)
		m := Monotonic()
		after := clockGettime(t)
		if m < before-monoErr || m > after+monoErr {
			t.Fatalf("Monotonic() = %v, CLOCK_MONOTONIC read %v before and %v after (calibration bound %v)", m, before, after, monoErr)
		}
	}
}
