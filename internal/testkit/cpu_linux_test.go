package testkit

import (
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestProcessCPU: our own process's figure lies between two readings of
// CLOCK_PROCESS_CPUTIME_ID taken around it, and a child's figure, read
// while it waits on its stdin after a busy loop, is more than zero and
// no more than what wait4 reports once it exits (rusage truncates each
// of user and system time to microseconds).
func TestProcessCPU(t *testing.T) {
	self := func() time.Duration {
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ts.Nano())
	}
	before := self()
	got, err := ProcessCPU(unix.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if after := self(); got < before || got > after {
		t.Errorf("ProcessCPU(self) = %v, want between %v and %v", got, before, after)
	}

	cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo busy; read x || true")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := stdout.Read(buf); err != nil || string(buf) != "busy\n" {
		t.Fatalf("child said %q, %v; want busy", buf, err)
	}
	mid, err := ProcessCPU(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	final := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if mid <= 0 || mid > final+2*time.Microsecond {
		t.Errorf("ProcessCPU(child) while it waits = %v, want > 0 and ≤ wait4's %v", mid, final)
	}
	if _, err := ProcessCPU(cmd.Process.Pid); err == nil {
		t.Errorf("ProcessCPU of a reaped child: no error")
	}
}
