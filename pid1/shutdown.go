package pid1

import (
	"os"
	"time"

	"github.com/camwire/camwire/camconsole"
	"golang.org/x/sys/unix"
)

// orphanGrace is how long shutdown waits for the processes left after
// the recorder and the shells (a debug session's background jobs, a
// camera command the recorder left behind) to end once asked.
const orphanGrace = 2 * time.Second

// shutdown is step 13, after a shutdown signal: the recorder drains, the
// network stops, every other process is asked to end and reaped, and
// the board powers off. It never returns.
func (in *Init) shutdown(sig os.Signal) {
	in.println(camconsole.ShutdownLine(sig))
	in.stopShells()
	in.stopRec()
	in.waitPetting(in.recFinished, in.stopTimeout()+5*time.Second)
	in.stopNet()
	in.waitPetting(in.netDone, 5*time.Second)
	in.endOrphans()
	in.powerOff()
}

// endOrphans asks every process still running to end, as an init does
// before power off (SIGTERM to all; kill(-1) spares PID 1), and reaps
// them with WaitOrphans, u-root's WaitOrphans with a bound: the
// Supervisor that reaped until now has stopped.
func (in *Init) endOrphans() {
	if err := unix.Kill(-1, unix.SIGTERM); err != nil && err != unix.ESRCH {
		in.logf("shutdown: kill(-1, SIGTERM): %v", err)
	}
	in.pet()
	n, err := WaitOrphans(orphanGrace)
	switch {
	case err != nil:
		in.logf("shutdown: reaped %d processes; %v", n, err)
	case n > 0:
		in.logf("shutdown: reaped %d processes", n)
	}
}

// powerOff ends the system cleanly: data written, file systems clean,
// watchdog disarmed (so a slow halt does not become a reboot).
func (in *Init) powerOff() {
	in.settle()
	in.println(camconsole.PowerOff)
	in.flush()
	err := unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	in.logf("power off failed: %v", err)
	select {} // PID 1 must never return
}

// flush lets the consoles' writers catch up (they write asynchronously,
// see Consoles) so the last lines are on screen before the power goes;
// a stopped terminal delays the power off by at most 2 s.
func (in *Init) flush() {
	if c, ok := in.out.(*Consoles); ok {
		c.Flush(2 * time.Second)
	}
}

// settle syncs and unmounts what can be unmounted.
func (in *Init) settle() {
	unix.Sync()
	if in.bootDev != "" {
		if err := unix.Unmount("/boot", 0); err != nil {
			unix.Unmount("/boot", unix.MNT_DETACH)
		}
	}
	in.disarmWatchdog()
	in.setLED(LEDOff)
	unix.Sync()
}

// fatal shows the error on the LED and the consoles, then reboots.
func (in *Init) fatal(err error) {
	if in.out == nil { // before step 2: the kernel's console
		in.attach(os.Stdout)
	}
	d := in.FatalDelay
	if d == 0 {
		d = 30 * time.Second
	}
	in.setLED(LEDError)
	in.logf("fatal: %v (rebooting in %v)", err, d)
	time.Sleep(d)
	unix.Sync()
	in.logf("reboot")
	in.flush()
	rerr := unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	in.logf("reboot failed: %v", rerr)
	select {}
}
