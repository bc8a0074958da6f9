package pid1

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/camwire/camwire/bootreport"
	"github.com/camwire/camwire/config"
	"github.com/u-root/u-root/pkg/kmodule"
	"golang.org/x/sys/unix"
)

// The boot steps 1–12 of the package doc, in order.

// mountBase is step 1. Its lines (each mount, and what failed) wait for
// the consoles of step 2; a required mount that fails is fatal.
func (in *Init) mountBase() {
	if err := MountAll(BaseMounts, SysMount("/"), in.logf); err != nil {
		in.fatal(err)
	}
}

// openConsoles is step 2.
func (in *Init) openConsoles() {
	in.attach(OpenConsoles("/dev", ConsoleNames("/sys"), os.Stdout))
}

// ctrlAltDelOff is step 3: ctrl-alt-del becomes SIGINT to PID 1 instead
// of an instant reboot.
func (in *Init) ctrlAltDelOff() {
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF); err != nil {
		in.logf("ctrl-alt-del off: %v", err)
	}
}

// loadModules is step 4: the board's named modules, with the coldplug
// started beside them (loadDrivers). The drivers the coldplug finds come
// in the background; the drivers step waits for them.
func (in *Init) loadModules() {
	board, model := ReadBoard("/proc")
	in.board = board
	in.logf("board %s (%q), loading %d modules by name; file systems and the devices' drivers follow in the background", board.Name, model, len(board.Modules))
	in.facts.board(board.Name)
	// The LED's state is kept from now on, for the drivers step that
	// finds the LED (see findLED).
	in.led = &LED{}
	// Its exec and runtime start go beside the loading; it waits for
	// the settings (step 10 hands them over).
	in.prestartRecorder()
	// The loopback too, beside the loading, and before the NIC's driver
	// registers eth0: bringing lo up holds the kernel's rtnl lock for
	// 70–120 ms under QEMU's emulation, which the network step's netlink
	// requests on the wired link would otherwise wait out.
	go loopbackUp(in.logf)
	in.facts.setModules(in.ModuleReport)
	in.loadDrivers(board)
	in.facts.update(func(*bootreport.Init) {}) // the named modules' outcome
}

// awaitDrivers is step 11: wait for the coldplug's first pass, which
// started in step 4 and went on beside the recorder, so its outcome is
// in the boot report (no longer Loading); then the ACT LED, whose driver
// (leds-gpio) is one of those drivers.
func (in *Init) awaitDrivers() {
	in.waitDrivers("drivers")
	in.facts.update(func(*bootreport.Init) {})
	in.findLED()
}

// findLED gives the LED kept since step 4 its sysfs directory and starts
// its blinking, in the state the recorder's lines left it.
func (in *Init) findLED() {
	l, err := FindLED("/sys/class/leds")
	if err != nil {
		in.logf("%v (no status LED)", err)
		return
	}
	// Only Run reads Dir; Set and SetWarning, which the recorder's
	// lines call meanwhile, do not.
	in.led.Dir = l.Dir
	go func() {
		if err := in.led.Run(context.Background()); err != nil {
			in.logf("led: %v", err)
		}
	}()
}

// mountBoot is step 5: the boot partition at /boot, read-only. On a Pi
// the SD card's driver comes with the coldplug, which is still running:
// the wait is for the partition, not for the whole coldplug, but its
// time counts only from when the coldplug has tried the recorder's path
// (Board.BootAfterFirst; bounded by DriversWait).
func (in *Init) mountBoot() {
	var from <-chan struct{}
	if in.board.BootAfterFirst {
		from = in.firstDrivers()
	}
	dev, err := WaitBlock("/sys/class/block", "/dev", in.board.BootDev, in.bootWait(in.board), from)
	if err != nil {
		in.logf("boot partition: %v; settings from the kernel command line only", err)
		in.facts.boot(false, err.Error())
		return
	}
	in.waitFS() // vfat and its code pages load in the background
	m := BootMount("/dev/" + dev)
	if err := mountRetry(SysMount("/"), m, in.bootWait(in.board)); err != nil {
		in.logf("%v: %v; settings from the kernel command line only", m, err)
		in.facts.boot(false, fmt.Sprintf("%v: %v", m, err))
		return
	}
	in.bootDev = dev
	in.logf("%v", m)
	in.facts.boot(true, m.String())
	in.cfgFile = "/boot/camwire.txt"
}

// mountRetry mounts m, and while the error is one a card still settling
// gives (its node or medium not there yet, a read failing while the
// host controller re-detects it), tries again every 50 ms for up to
// wait: the settings on the card are what the camera is, so they are
// worth a few seconds. Any other error (no vfat driver, not a FAT file
// system) is returned at once.
func mountRetry(mount MountFunc, m Mount, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		err := mount(m)
		transient := errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENXIO) ||
			errors.Is(err, unix.ENOMEDIUM) || errors.Is(err, unix.EIO)
		if err == nil || !transient || !time.Now().Before(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond) // no event says a card has settled
	}
}

// loadSettings is step 6.
func (in *Init) loadSettings() {
	cmdline, _ := os.ReadFile("/proc/cmdline")
	cfg, probs := config.Load(config.Layers{File: in.cfgFile, Cmdline: string(cmdline), Serial: config.ReadSerial(config.SerialFile)})
	in.cfg = cfg
	if len(probs) > 0 {
		// The recorder prints them in full and sends them to the receiver.
		in.logf("settings: %d problems (the recorder reports them)", len(probs))
	}
}

// setHostname is step 7: the camera's name, and the modules= the
// settings ask for.
func (in *Init) setHostname() {
	if err := unix.Sethostname([]byte(in.cfg.Name)); err != nil {
		in.logf("hostname %q: %v", in.cfg.Name, err)
	}
	if len(in.cfg.Modules) > 0 {
		in.logf("loading modules %s", strings.Join(in.cfg.Modules, " "))
		errs := LoadModules(in.cfg.Modules, kmodule.ProbeOpts{})
		for _, err := range errs {
			in.logf("%v", err)
		}
		in.facts.modules(in.cfg.Modules, errs)
	}
}

// Step 8, setupGadget, is in usbgadget.go; step 12, openWatchdog, in
// watchdog.go.

// startNetwork is step 9: the network runs beside the recorder until
// shutdown stops it.
func (in *Init) startNetwork() {
	ctx, stop := context.WithCancel(context.Background())
	in.stopNet, in.netDone = stop, make(chan struct{})
	cfg := in.cfg
	go func() {
		defer close(in.netDone)
		network := in.Network
		if network == nil {
			network = in.network
		}
		if err := network(ctx, cfg, in.logf); err != nil && ctx.Err() == nil {
			in.logf("network: %v", err)
		}
	}()
}

// startRecorder is step 10: the recorder under a Supervisor, which
// reaps every child from now on, and the debug shells. The recorder's
// process was started in step 4 (prestartRecorder) and waits for its
// arguments, which this step hands it now that the settings are known.
func (in *Init) startRecorder() {
	if in.sup == nil {
		in.prestartRecorder()
	}
	args := []string{"-kernel-cmdline", "/proc/cmdline"}
	if in.cfgFile != "" {
		args = append([]string{"-config", in.cfgFile}, args...)
	}
	// Nothing is sent before the board's Later modules are there (on
	// virt the keyboard that carries Ctrl-Alt-Del): they loaded beside
	// the steps since the modules step.
	in.waitLater()
	// Set before settled is closed: the Supervisor reads them after.
	in.sup.Args = append(args, in.RecorderArgs...)
	close(in.settled)
	shells := in.debugShells(in.cfg)
	in.mu.Lock()
	in.shells = shells
	in.mu.Unlock()
	shellCtx, stopShells := context.WithCancel(context.Background())
	in.stopShells = stopShells
	for _, sh := range shells {
		go func() {
			<-in.sup.Ready // the reaper runs: the shell is collected when it ends
			sh.Run(shellCtx)
		}()
	}
}

// prestartRecorder starts the Supervisor, which reaps every child from
// now on, and the recorder's process, which waits for its arguments
// until startRecorder hands them over (Supervisor.Settled): under QEMU's
// emulation the exec and the Go runtime's start take a third of a
// second, which now overlaps the module loading and the steps before
// the recorder's instead of delaying the first frame. Nothing in the
// recorder runs before it has the settings (camwire.txt from the boot
// partition, read in step 6).
func (in *Init) prestartRecorder() {
	in.settled = make(chan struct{})
	in.sup = &Supervisor{
		Path:    "/proc/self/exe",
		Env:     append(os.Environ(), "CAMWIRE_SUPERVISED=1"),
		Settled: in.settled,
		Output:  in.out,
		OnLine:  in.recorderLine,
		OnExit:  in.recorderExit,
		OnReap: func(pid int, _ unix.WaitStatus) {
			in.mu.Lock()
			shells := in.shells
			in.mu.Unlock()
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
	recCtx, stopRec := context.WithCancel(context.Background())
	in.stopRec, in.recFinished = stopRec, make(chan struct{})
	sup := in.sup
	go func() {
		// Run reaps until recCtx ends, even when the recorder cannot
		// start (it then logs that and calls OnExit, which shows the
		// error on the LED): the shells rely on it.
		sup.Run(recCtx)
		close(in.recFinished)
	}()
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

func (in *Init) bootWait(b Board) time.Duration {
	switch {
	case in.BootWait > 0:
		return in.BootWait
	case b.BootWait > 0:
		return b.BootWait
	}
	return 20 * time.Second
}

// WaitBlock waits until one of the block devices names (e.g. "mmcblk0p1")
// exists under sysBlock (/sys/class/block) and has its node in devDir
// (/dev), and returns its name. The SD card driver is a module probed a
// moment earlier and the card takes a while to enumerate; with no udev,
// polling every 50 ms is the simplest event source, and the wait ends as
// soon as the device is there. Both are looked at because the kernel
// adds a device's class link in sysfs before devtmpfs has made its node
// (device_add, then devtmpfs_create_node in the kdevtmpfs thread): a
// mount in between fails with ENOENT, and under QEMU on a busy host that
// window is wide enough to hit. It looks from the start, but timeout
// counts only from when from is closed (nil: at once): from when the
// driver has been loaded.
// lookOnce is WaitBlock's poll interval: a timeout below it is one look
// (two at most), not a wait.
const lookOnce = 50 * time.Millisecond

func WaitBlock(sysBlock, devDir string, names []string, timeout time.Duration, from <-chan struct{}) (string, error) {
	var deadline time.Time
	if from == nil {
		deadline = time.Now().Add(timeout)
	}
	var noNode []string // in sysfs, without a node yet
	for {
		noNode = noNode[:0]
		for _, n := range names {
			if _, err := os.Stat(filepath.Join(sysBlock, n)); err != nil {
				continue
			}
			if _, err := os.Stat(filepath.Join(devDir, n)); err != nil {
				noNode = append(noNode, filepath.Join(devDir, n))
				continue
			}
			return n, nil
		}
		if deadline.IsZero() {
			select {
			case <-from:
				deadline = time.Now().Add(timeout)
				continue // one more look before the clock runs
			default:
			}
		} else if !time.Now().Before(deadline) {
			if len(noNode) > 0 {
				return "", fmt.Errorf("%s: in sysfs but no device node within %v", strings.Join(noNode, ", "), timeout)
			}
			if from != nil {
				return "", fmt.Errorf("none of %s appeared within %v of the coldplug's loading its driver", strings.Join(names, ", "), timeout)
			}
			if timeout < lookOnce {
				// virt's: its disks are probed by the time it looks, so
				// a wait counted in milliseconds means "no disk".
				return "", fmt.Errorf("no disk: none of %s is there", strings.Join(names, ", "))
			}
			return "", fmt.Errorf("none of %s appeared within %v", strings.Join(names, ", "), timeout)
		}
		wait := lookOnce
		if !deadline.IsZero() {
			wait = min(wait, time.Until(deadline))
		}
		time.Sleep(max(wait, 0))
	}
}
