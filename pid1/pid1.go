// Package pid1 is what camwire-init does when the kernel starts it as
// process 1 on the Pi. Boot is a checklist; Init.Run performs it in this
// order and then never returns:
//
//  1. Mount /proc, /sys, /dev (required: the boot stops without them) and
//     /dev/pts, /tmp, /run (best-effort), from the table BaseMounts.
//  2. Log to every active console (serial and screen), print
//     "camwire: init start".
//  3. Disable the kernel's instant ctrl-alt-del reboot so it arrives as
//     SIGINT and shuts down cleanly instead.
//  4. Load the board's kernel modules, chosen from the device tree's
//     model (Pi 3, 3+, Zero 2 W, 4, QEMU virt), with their dependencies;
//     then the ACT LED (its driver, leds-gpio, is one of them) steady on.
//  5. Wait up to Board.BootWait (20 s on a Pi) for the boot FAT partition to appear (the SD
//     driver is a module that just loaded) and mount it read-only at /boot.
//  6. Load the settings: defaults < /boot/camwire.txt < /proc/cmdline.
//  7. Set the hostname to the camera name; load the modules= of the
//     settings.
//  8. Open the hardware watchdog (/dev/watchdog); the main loop pets it.
//  9. Start the network (Network: loopback, static address kept on the
//     wired link by netcfg, DHCP for a laptop on a direct cable).
//  10. Supervise the recorder: this same binary run as a child process,
//     which is not PID 1 and so runs only the recorder, with
//     -config /boot/camwire.txt -kernel-cmdline /proc/cmdline. Its
//     "camwire: state …" lines drive the LED. See Supervisor for why the
//     recorder is a child and not a goroutine (reaping). With
//     debug=yes on an image that has /bin/gosh, also keep a shell on each
//     console terminal (Shell), restarted when it exits.
//  11. Main loop: pet the watchdog, show the state on the LED, recover
//     from panics, until SIGTERM, SIGINT (ctrl-alt-del), SIGPWR or SIGUSR2.
//  12. Shutdown: stop the recorder (it drains its sender to the receiver
//     within its deadline and prints its summary line), stop the network,
//     sync, unmount /boot, disarm the watchdog, power off.
//
// A failure of step 1, or a panic outside the main loop, is fatal: the LED
// shows the error pattern and the board reboots after FatalDelay. Every
// other failure is logged and the camera carries on with what works.
//
// Lines PID 1 prints for tests reading the serial console (stable):
//
//	camwire: init start
//	camwire: boot done after 1234ms (board pi3)
//	camwire: shutdown (signal terminated)
//	camwire: shell: /bin/gosh on /dev/ttyAMA0, pid 95   (debug=yes; again after each exit)
//	camwire: power off
//	camwire: fatal: … (rebooting in 30s)
package pid1

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/camwire/camwire/config"
	"github.com/u-root/u-root/pkg/kmodule"
	"github.com/u-root/u-root/pkg/watchdog"
	"golang.org/x/sys/unix"
)

// Init is PID 1. The zero value with Recorder set is the real thing; the
// fields are seams for tests and for the image's needs.
type Init struct {
	// RecorderArgs are extra flags for the recorder child, after the
	// -config and -kernel-cmdline ones Init adds.
	RecorderArgs []string
	// Network brings up the network with the settings and keeps it up
	// until ctx ends; nil means the package's Network (netcfg). Errors are
	// logged; the camera keeps recording into its buffer.
	Network func(ctx context.Context, c config.Config, logf func(string, ...any)) error

	// BootWait bounds the wait for the boot partition; default the
	// board's (Board.BootWait), else 20 s.
	BootWait time.Duration
	// FatalDelay is how long the error pattern shows before a reboot;
	// default 30 s.
	FatalDelay time.Duration
	// StopTimeout bounds the recorder's drain at shutdown before it is
	// killed; default 20 s.
	StopTimeout time.Duration

	start   time.Time
	out     io.Writer
	led     *LED
	wd      *watchdog.Watchdog
	bootDev string
	mu      sync.Mutex
}

func (in *Init) logf(format string, args ...any) {
	fmt.Fprintf(in.out, "camwire: "+format+"\n", args...)
}

// Run boots and supervises; it never returns. See the package doc for the
// steps.
func (in *Init) Run() {
	in.start = time.Now()
	in.out = os.Stdout // the kernel connected it to /dev/console
	defer func() {
		// Outside the main loop nothing can carry on: show it and reboot.
		if r := recover(); r != nil {
			in.fatal(fmt.Errorf("panic: %v", r))
		}
	}()
	if err := MountAll(BaseMounts, SysMount("/"), func(f string, a ...any) {}); err != nil {
		in.logf("init start")
		in.fatal(err)
	}
	in.out = OpenConsoles("/dev", ConsoleNames("/sys"), os.Stdout)
	in.logf("init start")
	for _, m := range BaseMounts {
		in.logf("%v", m) // the table again, now that the log reaches every screen
	}

	// Ctrl-alt-del becomes SIGINT to PID 1 instead of an instant reboot.
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF); err != nil {
		in.logf("ctrl-alt-del off: %v", err)
	}

	board, model := ReadBoard("/proc")
	in.logf("board %s (%q), loading %d modules", board.Name, model, len(board.Modules))
	for _, err := range LoadModules(board.Modules, kmodule.ProbeOpts{}) {
		in.logf("%v", err)
	}

	// The LED driver (leds-gpio) is one of the board's modules: look
	// for the LED only now.
	if l, err := FindLED("/sys/class/leds"); err == nil {
		in.led = l
		go func() {
			if err := l.Run(context.Background()); err != nil {
				in.logf("led: %v", err)
			}
		}()
	} else {
		in.logf("%v (no status LED)", err)
	}

	cfgFile := ""
	if dev, err := WaitBlock("/sys/class/block", board.BootDev, in.bootWait(board)); err != nil {
		in.logf("boot partition: %v; settings from the kernel command line only", err)
	} else if err := SysMount("/")(BootMount("/dev/" + dev)); err != nil {
		in.logf("%v: %v; settings from the kernel command line only", BootMount("/dev/"+dev), err)
	} else {
		in.bootDev = dev
		in.logf("%v", BootMount("/dev/"+dev))
		cfgFile = "/boot/camwire.txt"
	}
	cmdline, _ := os.ReadFile("/proc/cmdline")
	cfg, probs := config.Load(config.Sources{File: cfgFile, Cmdline: string(cmdline)})
	if len(probs) > 0 {
		// The recorder prints them in full and sends them to the receiver.
		in.logf("settings: %d problems (the recorder reports them)", len(probs))
	}

	if err := unix.Sethostname([]byte(cfg.Name)); err != nil {
		in.logf("hostname %q: %v", cfg.Name, err)
	}
	if len(cfg.Modules) > 0 {
		in.logf("loading modules %s", strings.Join(cfg.Modules, " "))
		for _, err := range LoadModules(cfg.Modules, kmodule.ProbeOpts{}) {
			in.logf("%v", err)
		}
	}
	in.openWatchdog()

	netCtx, netStop := context.WithCancel(context.Background())
	netDone := make(chan struct{})
	go func() {
		defer close(netDone)
		network := in.Network
		if network == nil {
			network = Network
		}
		if err := network(netCtx, cfg, in.logf); err != nil && netCtx.Err() == nil {
			in.logf("network: %v", err)
		}
	}()

	args := []string{"-kernel-cmdline", "/proc/cmdline"}
	if cfgFile != "" {
		args = append([]string{"-config", cfgFile}, args...)
	}
	shells := in.debugShells(cfg)
	sup := &Supervisor{
		Path:   "/proc/self/exe",
		Args:   append(args, in.RecorderArgs...),
		Env:    append(os.Environ(), "CAMWIRE_SUPERVISED=1"),
		Output: in.out,
		OnLine: in.recorderLine,
		OnExit: in.recorderExit,
		OnReap: func(pid int, _ unix.WaitStatus) {
			for _, sh := range shells {
				if sh.Reaped(pid) {
					return
				}
			}
		},
		Ready:       make(chan struct{}),
		StopTimeout: in.stopTimeout(),
		Logf:        in.logf,
	}
	recCtx, recStop := context.WithCancel(context.Background())
	recFinished := make(chan struct{})
	go func() {
		// Run reaps until recCtx ends, even when the recorder cannot
		// start (it then logs that and calls OnExit, which shows the
		// error on the LED): the shells below rely on it.
		sup.Run(recCtx)
		close(recFinished)
	}()
	for _, sh := range shells {
		go func() {
			<-sup.Ready // the reaper runs: the shell is collected when it ends
			sh.Run(context.Background())
		}()
	}
	in.logf("boot done after %dms (board %s)", time.Since(in.start).Milliseconds(), board.Name)

	sig := in.mainLoop()

	in.logf("shutdown (signal %v)", sig)
	recStop()
	in.waitPetting(recFinished, in.stopTimeout()+5*time.Second)
	netStop()
	in.waitPetting(netDone, 5*time.Second)
	in.powerOff()
}

// mainLoop pets the watchdog until a shutdown signal arrives. A panic in
// it is logged and the loop carries on: PID 1 must not exit.
func (in *Init) mainLoop() os.Signal {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGPWR, unix.SIGUSR2)
	for {
		var sig os.Signal
		func() {
			defer func() {
				if r := recover(); r != nil {
					in.logf("main loop: panic: %v (carrying on)", r)
				}
			}()
			tick := time.NewTicker(in.petInterval())
			defer tick.Stop()
			for sig == nil {
				select {
				case s := <-sigs:
					sig = s
				case <-tick.C:
					in.pet()
				}
			}
		}()
		if sig != nil {
			return sig
		}
	}
}

// debugShells are the shells PID 1 keeps on its consoles when the
// settings say debug=yes and the image carries one (a debug image, see
// image.Options.Debug): PATH=/bin, where the image links u-root's tools.
func (in *Init) debugShells(cfg config.Config) []*Shell {
	if !cfg.Debug {
		return nil
	}
	if _, err := os.Stat(ShellPath); err != nil {
		// debug=yes is set; what is missing is the shell, which only a
		// debug image carries.
		in.logf("debug: no shell (%v); build a debug image: make image DEBUG=1 (camwire-image -debug)", err)
		return nil
	}
	env := []string{"PATH=/bin", "HOME=/", "TERM=linux"}
	var shells []*Shell
	for _, tty := range ShellTTYs("/dev", ConsoleNames("/sys")) {
		shells = append(shells, &Shell{Path: ShellPath, TTY: tty, Env: env, Logf: in.logf})
	}
	if len(shells) == 0 {
		in.logf("debug: no console terminal for a shell (active consoles %v)", ConsoleNames("/sys"))
	}
	return shells
}

// waitPetting waits for done (or d) while keeping the watchdog fed.
func (in *Init) waitPetting(done <-chan struct{}, d time.Duration) {
	deadline := time.After(d)
	tick := time.NewTicker(in.petInterval())
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-deadline:
			in.logf("gave up waiting after %v", d)
			return
		case <-tick.C:
			in.pet()
		}
	}
}

func (in *Init) recorderLine(line string) {
	if strings.HasPrefix(line, "camwire: config: ") && in.led != nil {
		in.led.SetWarning(true) // a setting fell back to its default
	}
	if s, ok := strings.CutPrefix(line, "camwire: state "); ok {
		if st, ok := ParseStatus(strings.Fields(s + " ")[0]); ok {
			in.setLED(st)
		}
	}
}

func (in *Init) recorderExit(err error) {
	if err != nil {
		in.setLED(StatusError)
	}
}

func (in *Init) setLED(s Status) {
	if in.led != nil {
		in.led.Set(s)
	}
}

func (in *Init) openWatchdog() {
	wd, err := watchdog.Open("/dev/watchdog")
	if err != nil {
		in.logf("watchdog: %v (running without one)", err)
		return
	}
	in.mu.Lock()
	in.wd = wd
	in.mu.Unlock()
	t, err := wd.Timeout()
	in.logf("watchdog armed (timeout %v, %v)", t, err)
}

func (in *Init) pet() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.wd != nil {
		if err := in.wd.KeepAlive(); err != nil {
			in.logf("watchdog: %v", err)
		}
	}
}

// petInterval is a third of the bcm2835 watchdog's ~15 s maximum.
func (in *Init) petInterval() time.Duration { return 5 * time.Second }

func (in *Init) bootWait(b Board) time.Duration {
	switch {
	case in.BootWait > 0:
		return in.BootWait
	case b.BootWait > 0:
		return b.BootWait
	}
	return 20 * time.Second
}

func (in *Init) stopTimeout() time.Duration {
	if in.StopTimeout > 0 {
		return in.StopTimeout
	}
	return 20 * time.Second
}

// powerOff ends the system cleanly: data written, file systems clean,
// watchdog disarmed (so a slow halt does not become a reboot).
func (in *Init) powerOff() {
	in.settle()
	in.logf("power off")
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
	in.mu.Lock()
	if in.wd != nil {
		in.wd.MagicClose()
		in.wd = nil
	}
	in.mu.Unlock()
	in.setLED(StatusOff)
	unix.Sync()
}

// fatal shows the error on the LED and the consoles, then reboots.
func (in *Init) fatal(err error) {
	d := in.FatalDelay
	if d == 0 {
		d = 30 * time.Second
	}
	in.setLED(StatusError)
	in.logf("fatal: %v (rebooting in %v)", err, d)
	time.Sleep(d)
	unix.Sync()
	in.logf("reboot")
	in.flush()
	rerr := unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	in.logf("reboot failed: %v", rerr)
	select {}
}

// WaitBlock waits until one of the block devices names (e.g. "mmcblk0p1")
// exists under sysBlock (/sys/class/block) and returns its name. The SD
// card driver is a module probed a moment earlier and the card takes a
// while to enumerate; with no udev, polling sysfs every 50 ms is the
// simplest event source, and the wait ends as soon as the device appears.
func WaitBlock(sysBlock string, names []string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		for _, n := range names {
			if _, err := os.Stat(filepath.Join(sysBlock, n)); err == nil {
				return n, nil
			}
		}
		left := time.Until(deadline)
		if left <= 0 {
			return "", fmt.Errorf("none of %s appeared within %v", strings.Join(names, ", "), timeout)
		}
		time.Sleep(min(left, 50*time.Millisecond))
	}
}
