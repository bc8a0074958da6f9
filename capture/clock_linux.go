package capture

import (
	"time"

	"golang.org/x/sys/unix"
)

// Monotonic reads CLOCK_MONOTONIC: the clock bcm2835-v4l2 and vivid stamp
// their buffers with, so AUs from every source compare with each other.
//
// It is read as Go's own monotonic clock (time.Since), which the runtime
// takes from CLOCK_MONOTONIC through the vDSO, plus the offset between the
// two measured once (monoBase). unix.ClockGettime is a real system call:
// one per access unit, and on a process that was idle between frames the
// call also woke the runtime's sysmon thread (every entersyscall does),
// which then polled for a millisecond: some 5 context switches a frame.
func Monotonic() time.Duration {
	return monoBase + time.Since(monoStart)
}

// monoStart and monoBase are the same instant on Go's monotonic clock and
// on CLOCK_MONOTONIC; monoErr bounds how far apart the two readings may
// be (half the narrowest bracket seen).
var monoStart, monoBase, monoErr = calibrateMonotonic()

// calibrateMonotonic brackets a CLOCK_MONOTONIC reading between two of
// Go's, a few times, and keeps the narrowest bracket's midpoint: a
// preemption between two readings widens that try's bracket, not the
// result.
func calibrateMonotonic() (start time.Time, base, errBound time.Duration) {
	errBound = -1
	for range 8 {
		t0 := time.Now()
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
			// Cannot fail on Linux for CLOCK_MONOTONIC; fall back to the process clock.
			return processStart, 0, 0
		}
		w := time.Since(t0)
		if errBound < 0 || w/2 < errBound {
			start, base, errBound = t0.Add(w/2), time.Duration(ts.Nano()), w/2
		}
	}
	return start, base, errBound
}
