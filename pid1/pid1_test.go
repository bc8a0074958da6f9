package pid1

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camwire/camwire/camconsole"
	"github.com/camwire/camwire/config"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func TestWaitBlock(t *testing.T) {
	sys := t.TempDir()
	// Appears while we wait, as the SD card does after sdhci loads.
	go func() {
		time.Sleep(100 * time.Millisecond)
		os.Mkdir(filepath.Join(sys, "mmcblk0p1"), 0o755)
	}()
	got, err := WaitBlock(sys, sys, []string{"vda1", "mmcblk0p1"}, 10*time.Second, nil)
	if err != nil || got != "mmcblk0p1" {
		t.Errorf("WaitBlock = %q, %v, want mmcblk0p1", got, err)
	}

	_, err = WaitBlock(t.TempDir(), os.DevNull, []string{"mmcblk0p1"}, 120*time.Millisecond, nil)
	if err == nil || !strings.Contains(err.Error(), "mmcblk0p1") {
		t.Errorf("WaitBlock(empty) = %v, want an error naming mmcblk0p1", err)
	}
}

// TestWaitBlockNode: a partition in sysfs is not there until devtmpfs has
// made its node (the kernel adds the class link first): mounting in
// between fails with ENOENT.
func TestWaitBlockNode(t *testing.T) {
	sys, dev := t.TempDir(), t.TempDir()
	os.Mkdir(filepath.Join(sys, "mmcblk0p1"), 0o755)
	_, err := WaitBlock(sys, dev, []string{"mmcblk0p1"}, time.Millisecond, nil)
	if want := filepath.Join(dev, "mmcblk0p1") + ": in sysfs but no device node within 1ms"; err == nil || err.Error() != want {
		t.Errorf("WaitBlock(no node) = %v, want %q", err, want)
	}
	if err := os.WriteFile(filepath.Join(dev, "mmcblk0p1"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := WaitBlock(sys, dev, []string{"mmcblk0p1"}, time.Millisecond, nil); err != nil || got != "mmcblk0p1" {
		t.Errorf("WaitBlock(node made) = %q, %v, want mmcblk0p1", got, err)
	}
}

func TestRecorderLineDrivesLED(t *testing.T) {
	in := &Init{led: &LED{Dir: t.TempDir()}}
	for _, tc := range []struct {
		line string
		want LEDStatus
	}{
		{camconsole.StateNoReceiver.Line(), LEDNoReceiver},
		{camconsole.StateRecording.Line() + " (acked 12)", LEDRecording},
		{camconsole.Summary{Captured: 1, Sent: 1, Acked: 1}.Format(), LEDRecording}, // not a state line
		{camconsole.StateError.Line() + " camera: no /dev/video0", LEDError},
	} {
		in.recorderLine(tc.line)
		if got := in.led.Status(); got != tc.want {
			t.Errorf("after %q LED = %v, want %v", tc.line, got, tc.want)
		}
	}
	if in.led.Warning() {
		t.Errorf("LED warns before any config problem")
	}
	in.recorderLine(camconsole.ConfigLine("camwire.txt:3: fps: bad value"))
	if !in.led.Warning() || in.led.Status() != LEDError {
		t.Errorf("after a config line: warning %v, status %v; want the warning on and the status kept", in.led.Warning(), in.led.Status())
	}
}

func TestBootWait(t *testing.T) {
	for _, tc := range []struct {
		name  string
		init  time.Duration
		board Board
		want  time.Duration
	}{
		{"no board wait: 20 s for an SD card", 0, Board{Name: "pi3"}, 20 * time.Second},
		{"virt: one look", 0, BoardFor("", "linux,dummy-virt"), time.Millisecond},
		{"Init's setting wins", 3 * time.Second, BoardFor("", "linux,dummy-virt"), 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &Init{BootWait: tc.init}
			if got := in.bootWait(tc.board); got != tc.want {
				t.Errorf("bootWait(%s) = %v, want %v", tc.board.Name, got, tc.want)
			}
		})
	}
}

// A wait shorter than the poll interval still looks (twice) and then
// gives up: virt's one look at its disk.
func TestWaitBlockOneLook(t *testing.T) {
	sys := t.TempDir()
	os.Mkdir(filepath.Join(sys, "vda1"), 0o755)
	if got, err := WaitBlock(sys, sys, []string{"vda1"}, time.Millisecond, nil); err != nil || got != "vda1" {
		t.Errorf("WaitBlock(present, 1ms) = %q, %v, want vda1", got, err)
	}
	if _, err := WaitBlock(t.TempDir(), os.DevNull, []string{"vda1"}, time.Millisecond, nil); err == nil {
		t.Errorf("WaitBlock(absent, 1ms) = nil error, want one naming vda1")
	}
}

// TestDebugShellsWithoutShell: debug=yes on an image with no shell says
// what to build instead (the user already set debug=yes).
func TestDebugShellsWithoutShell(t *testing.T) {
	if _, err := os.Stat(ShellPath); err == nil {
		t.Skipf("%s exists on this machine: cannot test its absence", ShellPath)
	}
	var out bytes.Buffer
	in := &Init{out: &out}
	if sh := in.debugShells(config.Config{Debug: true}); sh != nil {
		t.Errorf("debugShells without %s = %d shells, want none", ShellPath, len(sh))
	}
	if got, want := out.String(), "make image DEBUG=1"; !strings.Contains(got, want) || strings.Contains(got, "debug=yes") {
		t.Errorf("log = %q, want it to name %q and not repeat debug=yes", got, want)
	}
}

// TestBootSteps: Run's checklist is the package doc's, in its order.
func TestBootSteps(t *testing.T) {
	want := []string{"mounts", "consoles", "ctrl-alt-del", "modules", "boot-partition",
		"settings", "hostname", "usb-gadget", "network", "recorder", "drivers", "watchdog"}
	if diff := cmp.Diff(want, BootSteps()); diff != "" {
		t.Errorf("BootSteps() (-want +got):\n%s", diff)
	}
}

// TestStepPrintsDuration: every step ends with its console line.
func TestStepPrintsDuration(t *testing.T) {
	var out bytes.Buffer
	in := &Init{out: &out}
	ran := false
	in.step(bootStep{"modules", func() { ran = true }})
	got, ok := camconsole.ParseBootStep(strings.TrimSuffix(out.String(), "\n"))
	if !ran || !ok || got.Name != "modules" {
		t.Errorf("step printed %q (ran %v), want a boot step line for modules", out.String(), ran)
	}
}

// TestMountLinesWaitForConsoles: the mount table's lines, and a failed
// optional mount, are logged before any console is open; they reach the
// console once it is, after "init start" and in order.
func TestMountLinesWaitForConsoles(t *testing.T) {
	in := &Init{}
	fail := func(m Mount) error {
		if m.Target == "/tmp" {
			return unix.ENOSPC
		}
		return nil
	}
	if err := MountAll(BaseMounts, fail, in.logf); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	in.attach(&out)
	want := []string{camconsole.InitStart}
	for _, m := range BaseMounts {
		l := camconsole.Prefix + m.String()
		if m.Target == "/tmp" {
			l += ": " + unix.ENOSPC.Error() + " (continuing without it)"
		}
		want = append(want, l)
	}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")); diff != "" {
		t.Errorf("console after attach (-want +got):\n%s", diff)
	}
	in.logf("later")
	if !strings.HasSuffix(out.String(), "camwire: later\n") {
		t.Errorf("a line after attach did not go straight to the console: %q", out.String())
	}
}
