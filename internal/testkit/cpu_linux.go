package testkit

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// ProcessCPU is the CPU time (user + system, every thread, children not
// included) that process pid has used so far, while it runs or until it
// is reaped. It reads the process's CPU-time clock (clock_getcpuclockid(3):
// the kernel's runtime sum, in nanoseconds), not /proc/PID/stat, whose
// utime and stime count 10 ms ticks: as coarse as the start-up of a
// program it is meant to tell apart from its steady state. Benchmarks
// read it at chosen moments (listening, first byte, end of stream) to
// split a process's CPU into start-up and steady state, the same way for
// camwire and its baseline.
func ProcessCPU(pid int) (time.Duration, error) {
	// MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED) of the kernel's
	// include/linux/posix-timers.h, which glibc's clock_getcpuclockid
	// returns: a process clock (bit 2 clear) counting scheduled runtime.
	const cpuclockSched = 2
	clock := int32(^pid<<3 | cpuclockSched)
	var ts unix.Timespec
	if err := unix.ClockGettime(clock, &ts); err != nil {
		return 0, fmt.Errorf("CPU clock of process %d: %w", pid, err)
	}
	return time.Duration(ts.Nano()), nil
}
