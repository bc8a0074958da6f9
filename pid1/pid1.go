// Package pid1 is what camwire-init does when the kernel starts it as
// process 1 on the Pi. Boot is a checklist; Init.Run calls one named
// step for each, in this order, prints how long each took
// ("camwire: boot step modules 0.08s", see camconsole) and then never
// returns:
//
//  1. mountBase: mount /proc, /sys, /dev (required: the boot stops
//     without them) and /dev/pts, /tmp, /run (best-effort), from the
//     table BaseMounts. Its lines wait until the consoles are open.
//  2. openConsoles: log to every active console (serial and screen),
//     print "camwire: init start" and the lines held back since step 1.
//  3. ctrlAltDelOff: disable the kernel's instant ctrl-alt-del reboot so
//     it arrives as SIGINT and shuts down cleanly instead.
//  4. loadModules: the few kernel modules with no device (file systems,
//     the board's network PHY or USB gadget; the board from the device
//     tree's model and compatible), all at once; beside them the coldplug
//     starts in the background: every device the kernel registered gets
//     the modules its modalias matches, the recorder's path (network
//     card, SD card, camera) first, and so does each device that appears
//     later (package coldplug). Nothing the first frame needs waits for
//     the coldplug's walk of sysfs: each later step waits for its own
//     device (the boot partition, the network link, the camera).
//     First of all it starts the recorder's process (step 10's), which
//     waits for its settings, and brings the loopback up: both go beside
//     the loading. A board's Later modules (virt's keyboard) load after
//     the first ones, beside the next steps; step 10 waits for them.
//     A board whose boot device's driver is named and that has no such
//     device (virt without a disk) loads no file systems.
//  5. mountBoot: wait up to Board.BootWait (20 s on a Pi, counted from
//     when the coldplug has tried the SD card's driver) for the boot FAT
//     partition to appear and mount it read-only at /boot.
//  6. loadSettings: defaults < /boot/camwire.txt < /proc/cmdline.
//  7. setHostname: the camera name; then load the modules= of the
//     settings.
//  8. setupGadget: with usb_gadget (auto: the Zero 2 W and the Pi 4's
//     USB-C), wait for the coldplug (the USB controller's driver), then
//     make the USB device port a network card and serial console for the
//     laptop (usbgadget.go, package gadget).
//  9. startNetwork: static address kept on the wired link by netcfg,
//     DHCP for a laptop on a direct cable (Init.Network).
//  10. startRecorder: supervise the recorder, this same binary run as a
//     child process, which is not PID 1 and so runs only the recorder:
//     hand the process step 4 started its flags, -config
//     /boot/camwire.txt -kernel-cmdline /proc/cmdline. Its
//     "camwire: state …" lines drive the LED. See Supervisor for why the
//     recorder is a child and not a goroutine (reaping). With debug=yes
//     on an image that has /bin/gosh, also keep a shell on each console
//     terminal (Shell), restarted when it exits.
//  11. awaitDrivers: wait for the coldplug's first pass to end, so the
//     boot report (which the recorder holds back until then) has every
//     module; then the ACT LED (its driver, leds-gpio, is one of them),
//     in the state the recorder's lines have set meanwhile.
//  12. openWatchdog: open the hardware watchdog (/dev/watchdog, its
//     driver from the coldplug); the main loop pets it (watchdog.go).
//  13. mainLoop: pet the watchdog, recover from panics, until SIGTERM,
//     SIGINT (ctrl-alt-del), SIGPWR or SIGUSR2. These are caught from
//     the start of Run, so one that arrives during the boot (kill 1 from
//     a debug shell) waits for the main loop instead of ending PID 1.
//  14. shutdown (shutdown.go): stop the debug shells and the recorder (it
//     drains its sender to the receiver within its deadline and prints
//     its summary line), stop the network, ask every process left to end
//     and reap them all, sync, unmount /boot, disarm the watchdog, power
//     off.
//
// The waits for the coldplug's first pass (steps 5, 8 and 11) are bounded
// by Init.DriversWait: a driver whose probe hangs must not hold the boot
// forever. One that runs out is logged, named in the boot report
// (bootreport.Init.Timeouts) and turns on the LED's warning.
//
// A failure of step 1, or a panic outside the main loop, is fatal: the LED
// shows the error pattern and the board reboots after FatalDelay. Every
// other failure is logged and the camera carries on with what works.
//
// Lines PID 1 prints for tests reading the serial console are part of
// the console contract (package camconsole):
//
//	camwire: init start
//	camwire: boot step mounts 0.01s                       (one per step 1–12)
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
	"sync"
	"time"

	"github.com/camwire/camwire/bootreport"
	"github.com/camwire/camwire/camconsole"
	"github.com/camwire/camwire/coldplug"
	"github.com/camwire/camwire/config"
	"github.com/u-root/u-root/pkg/watchdog"
	"golang.org/x/sys/unix"
)

// Init is PID 1. The zero value is the real thing; the fields are seams
// for tests and for the image's needs.
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
	// DriversWait bounds each wait for the coldplug's first pass (steps
	// usb-gadget and drivers, and when the boot partition's wait starts
	// counting); default 60 s.
	DriversWait time.Duration

	start time.Time
	// out is every console once step 2 opened them; before, lines wait
	// in early (the kernel's /dev/console may be only one of several
	// screens, and /dev itself is mounted in step 1).
	out   io.Writer
	early []string
	sigs  chan os.Signal // the shutdown signals, caught from Run's start

	// What the steps found, for the later ones.
	board   Board
	cfgFile string // "" when the boot partition is not mounted
	cfg     config.Config
	led     *LED
	bootDev string
	facts   *bootFacts // for the recorder's boot report (bootfacts.go)

	// The recorder's, from step 4 (prestartRecorder): its Supervisor,
	// closed once step 10 has set its arguments, and the debug shells
	// (under mu: the Supervisor's reaper reads them).
	sup     *Supervisor
	settled chan struct{}
	shells  []*Shell

	// What shutdown stops.
	stopShells  context.CancelFunc
	stopRec     context.CancelFunc
	recFinished chan struct{}
	stopNet     context.CancelFunc
	netDone     chan struct{}

	mu    sync.Mutex // guards wd, named, plug, shells and the drivers' channels and bound
	wd    *watchdog.Watchdog
	named []coldplug.Load   // the modules step's, see ModuleReport
	plug  *coldplug.Plugger // nil until the modules step ran
	// fsReady is closed when the file system modules are loaded,
	// driversFirst when the coldplug's first walk has tried the
	// recorder's path, drivers when its first pass has ended (all nil
	// until the modules step ran; see waitFS, firstDrivers,
	// waitDrivers); driversBy is the bound on the waits for drivers.
	fsReady, driversFirst, drivers chan struct{}
	driversBy                      time.Time
	// later is closed once the board's Later modules are loaded (nil
	// when it has none, or before the modules step); see waitLater.
	later chan struct{}
}

// bootStep is one named step of the checklist.
type bootStep struct {
	name string // one word, for the console
	run  func()
}

// bootSteps are the steps 1–12 of the package doc, in order.
func (in *Init) bootSteps() []bootStep {
	return []bootStep{
		{"mounts", in.mountBase},
		{"consoles", in.openConsoles},
		{"ctrl-alt-del", in.ctrlAltDelOff},
		{"modules", in.loadModules},
		{"boot-partition", in.mountBoot},
		{"settings", in.loadSettings},
		{"hostname", in.setHostname},
		{"usb-gadget", in.setupGadget},
		{"network", in.startNetwork},
		{"recorder", in.startRecorder},
		{"drivers", in.awaitDrivers},
		{"watchdog", in.openWatchdog},
	}
}

// BootSteps names the boot steps in the order Run performs them, as
// their "camwire: boot step NAME …" lines do.
func BootSteps() []string {
	var names []string
	for _, s := range (&Init{}).bootSteps() {
		names = append(names, s.name)
	}
	return names
}

// Run boots and supervises; it never returns. See the package doc for the
// steps.
func (in *Init) Run() {
	defer func() {
		// Outside the main loop nothing can carry on: show it and reboot.
		if r := recover(); r != nil {
			in.fatal(fmt.Errorf("panic: %v", r))
		}
	}()
	in.shutdown(in.run(in.bootSteps()))
}

// run catches the shutdown signals, runs steps and then the main loop,
// and returns the signal that ended it.
func (in *Init) run(steps []bootStep) os.Signal {
	// First of all: the recorder and the debug shells start during the
	// boot, and a SIGTERM or SIGINT (kill 1 from a shell, ctrl-alt-del
	// once step 3 turned it into SIGINT) not yet caught would get Go's
	// default action, exit, which for PID 1 is a kernel panic. Caught
	// now, they wait in in.sigs until the main loop acts on them.
	in.catchSignals()
	in.start = time.Now()
	if in.facts == nil {
		in.facts = &bootFacts{path: bootreport.InitFile, logf: in.logf}
	}
	for _, s := range steps {
		in.step(s)
	}
	in.println(camconsole.BootDoneLine(time.Since(in.start), in.board.Name))
	return in.mainLoop()
}

// shutdownSignals end the main loop: SIGTERM and SIGINT (ctrl-alt-del),
// SIGPWR and SIGUSR2 (what busybox's and systemd's poweroff send PID 1).
var shutdownSignals = []os.Signal{unix.SIGTERM, unix.SIGINT, unix.SIGPWR, unix.SIGUSR2}

// catchSignals starts queueing the shutdown signals in in.sigs (room
// for each once: the first one received decides).
func (in *Init) catchSignals() {
	if in.sigs == nil {
		in.sigs = make(chan os.Signal, len(shutdownSignals))
		signal.Notify(in.sigs, shutdownSignals...)
	}
}

// step runs one boot step and prints how long it took.
func (in *Init) step(s bootStep) {
	t := time.Now()
	s.run()
	in.println(camconsole.BootStep{Name: s.name, Took: time.Since(t)}.Line())
}

func (in *Init) logf(format string, args ...any) {
	in.println(camconsole.Prefix + fmt.Sprintf(format, args...))
}

// println prints one console line, or keeps it for attach while no
// console is open.
func (in *Init) println(line string) {
	if in.out == nil {
		in.early = append(in.early, line)
		return
	}
	io.WriteString(in.out, line+"\n")
}

// attach makes w the log and shows what waited for it, after the
// "init start" marker.
func (in *Init) attach(w io.Writer) {
	in.out = w
	in.println(camconsole.InitStart)
	for _, l := range in.early {
		in.println(l)
	}
	in.early = nil
}

// mainLoop pets the watchdog until a shutdown signal arrives. A panic in
// it is logged and the loop carries on: PID 1 must not exit.
func (in *Init) mainLoop() os.Signal {
	in.catchSignals()
	sigs := in.sigs
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

// recorderLine drives the LED from the recorder's console lines.
func (in *Init) recorderLine(line string) {
	if camconsole.IsConfig(line) && in.led != nil {
		in.led.SetWarning(true) // a setting fell back to its default
	}
	if st, ok := camconsole.ParseState(line); ok {
		in.setLED(ledFor(st))
	}
}

func (in *Init) recorderExit(err error) {
	if err != nil {
		in.setLED(LEDError)
	}
}

func (in *Init) setLED(s LEDStatus) {
	if in.led != nil {
		in.led.Set(s)
	}
}

// stopTimeout bounds the recorder's drain at shutdown.
func (in *Init) stopTimeout() time.Duration {
	if in.StopTimeout > 0 {
		return in.StopTimeout
	}
	return 20 * time.Second
}
