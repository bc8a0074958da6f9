package pid1

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/camwire/camwire/bootreport"
	"github.com/camwire/camwire/coldplug"
	"github.com/camwire/camwire/internal/syncbuf"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// signalChildEnv makes the test binary, started again by
// TestSignalDuringBoot, boot a fake Init that gets the signal named.
const signalChildEnv = "CAMWIRE_PID1_SIGNAL_CHILD"

// TestSignalDuringBoot: a shutdown signal that arrives during the boot
// (kill 1 from a debug shell while the drivers step waits) is kept for
// the main loop, which returns it; it does not end the process (for PID
// 1, a kernel panic), and SIGPWR or SIGUSR2 are not lost. Each signal in
// a child process, which a signal left to Go's default would kill.
func TestSignalDuringBoot(t *testing.T) {
	if name := os.Getenv(signalChildEnv); name != "" {
		signalChild(name)
		return
	}
	for _, name := range []string{"SIGTERM", "SIGINT", "SIGPWR", "SIGUSR2"} {
		t.Run(name, func(t *testing.T) {
			// A lost signal leaves the child in its main loop: the
			// deadline ends it then.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestSignalDuringBoot$")
			cmd.Env = append(os.Environ(), signalChildEnv+"="+name)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "main loop returned "+name) {
				t.Errorf("child: %v; output:\n%s", err, out)
			}
		})
	}
}

func signalChild(name string) {
	sig := unix.SignalNum(name)
	var out syncbuf.Buffer
	in := &Init{out: &out, facts: &bootFacts{}}
	got := in.run([]bootStep{{"recorder", func() {
		// To this very thread, so the kernel delivers it as the system
		// call returns: its handling (Go's default, exit, when nothing
		// catches it) is done before the boot goes on.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		unix.Tgkill(os.Getpid(), unix.Gettid(), sig)
	}}})
	os.Stdout.WriteString("main loop returned " + unix.SignalName(got.(unix.Signal)) + "\n")
}

// TestWaitDriversBound: a coldplug whose first pass never ends holds the
// drivers waits only until DriversWait; each wait that ran out is logged,
// named in the boot report by its step, and turns the LED's warning on.
func TestWaitDriversBound(t *testing.T) {
	var out syncbuf.Buffer
	in := &Init{out: &out, facts: &bootFacts{}, led: &LED{}, DriversWait: 50 * time.Millisecond,
		drivers: make(chan struct{})} // never closed: a probe hangs
	if in.waitDrivers("usb-gadget") {
		t.Error("waitDrivers = true, want false: the pass never ended")
	}
	if in.waitDrivers("drivers") {
		t.Error("second waitDrivers = true, want false")
	}
	for _, step := range []string{"usb-gadget", "drivers"} {
		want := step + ": gave up waiting for the coldplug's first pass after 50ms"
		if !strings.Contains(out.String(), want) {
			t.Errorf("console lacks %q:\n%s", want, out.String())
		}
	}
	if f := in.facts.in.Faults; len(f) != 2 || !strings.HasPrefix(f[0], "usb-gadget: ") || !strings.HasPrefix(f[1], "drivers: ") {
		t.Errorf("boot report faults %q, want the usb-gadget wait's, then the drivers'", f)
	}
	if issues := (bootreport.Report{Init: &in.facts.in, BootOK: true}).Issues(); len(issues) != 2 {
		t.Errorf("report issues %q, want the two waits", issues)
	}
	if !in.led.Warning() {
		t.Error("LED warning off after a wait ran out")
	}

	// A pass that ends in time is no fault.
	in = &Init{out: &out, facts: &bootFacts{}, led: &LED{}, DriversWait: time.Hour, drivers: make(chan struct{})}
	close(in.drivers)
	if !in.waitDrivers("drivers") || len(in.facts.in.Faults) != 0 || in.led.Warning() {
		t.Errorf("ended pass: faults %q, LED warning %v", in.facts.in.Faults, in.led.Warning())
	}
}

// TestColdplugPanic: a panic in the coldplug's goroutine (here a
// Plugger without its aliases; a module loader's panic is that module's
// error, coldplug's TestWatchSurvivesPanics) is caught there and
// reported, and no step waits for what it did not reach; uncaught it
// would end PID 1.
func TestColdplugPanic(t *testing.T) {
	sys := t.TempDir()
	dev := filepath.Join(sys, "devices/platform/soc/fe100000.watchdog")
	os.MkdirAll(dev, 0o755)
	os.WriteFile(filepath.Join(dev, "modalias"), []byte("platform:bcm2835-wdt\n"), 0o644)
	os.MkdirAll(filepath.Join(sys, "bus/platform/devices"), 0o755)
	os.Symlink("../../../devices/platform/soc/fe100000.watchdog", filepath.Join(sys, "bus/platform/devices/fe100000.watchdog"))
	plug := &coldplug.Plugger{Sys: sys, Load: func(m string) error { return nil }} // no Aliases: Match panics

	var out syncbuf.Buffer
	in := &Init{out: &out, facts: &bootFacts{}}
	fs, first, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	in.drivers, in.driversFirst, in.fsReady = done, first, fs
	in.background(nil, nil, func() (*coldplug.Plugger, error) { return plug, nil }, Board{}, time.Now(), closed, fs, first, done)
	for name, c := range map[string]chan struct{}{"fsReady": fs, "first": first, "done": done} {
		select {
		case <-c:
		default:
			t.Errorf("%s not closed after the panic", name)
		}
	}
	const want = "coldplug: panic: runtime error: invalid memory address"
	if !strings.Contains(out.String(), want) {
		t.Errorf("console lacks %q:\n%s", want, out.String())
	}
	if f := in.facts.in.Faults; len(f) != 1 || !strings.HasPrefix(f[0], want) {
		t.Errorf("boot report faults %q, want the panic", f)
	}
}

// TestWaitBlockFrom: the boot partition's time counts from when the
// coldplug has tried its driver, not from the step's start, so a slow
// walk of sysfs does not use it up; after that it runs out as before.
func TestWaitBlockFrom(t *testing.T) {
	sys := t.TempDir()
	from := make(chan struct{})
	type result struct {
		dev string
		err error
	}
	res := make(chan result, 1)
	go func() {
		d, err := WaitBlock(sys, sys, []string{"mmcblk0p1"}, time.Nanosecond, from)
		res <- result{d, err}
	}()
	// The driver loads, the card appears, then the coldplug says so.
	os.Mkdir(filepath.Join(sys, "mmcblk0p1"), 0o755)
	close(from)
	if r := <-res; r.err != nil || r.dev != "mmcblk0p1" {
		t.Errorf("WaitBlock = %q, %v, want mmcblk0p1", r.dev, r.err)
	}

	_, err := WaitBlock(t.TempDir(), os.DevNull, []string{"mmcblk0p1"}, time.Millisecond, closed)
	if err == nil || !strings.Contains(err.Error(), "mmcblk0p1 appeared within 1ms of the coldplug's loading its driver") {
		t.Errorf("WaitBlock(no card) = %v, want an error naming the card and when the time began", err)
	}
}

// TestWaitBlockMisses: what each kind of wait says when nothing came.
func TestWaitBlockMisses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timeout time.Duration
		want    string
	}{
		{"one look (virt)", time.Millisecond, "no disk: none of vda1, mmcblk0p1 is there"},
		{"a wait", 60 * time.Millisecond, "none of vda1, mmcblk0p1 appeared within 60ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := WaitBlock(t.TempDir(), os.DevNull, []string{"vda1", "mmcblk0p1"}, tc.timeout, nil)
			if err == nil {
				t.Fatal("WaitBlock found a device in an empty directory")
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("WaitBlock error (-want +got):\n%s", diff)
			}
		})
	}
}
