package pid1

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/camwire/camwire/bootreport"
	"github.com/camwire/camwire/coldplug"
	"github.com/u-root/u-root/pkg/kmodule"
	"golang.org/x/sys/unix"
)

// Board is what PID 1 knows about the hardware it runs on. Drivers for
// its devices come from the coldplug (package coldplug: the devices'
// modaliases matched against modules.alias), so a board only names what
// has no device to match.
type Board struct {
	Name string // short name for logs: "pi3", "pi3+", "zero2w", "pi4", "qemu-virt"
	// Modules are loaded by name first, all at once (dependencies from
	// modules.dep first), before the file systems (commonModules) and
	// the coldplug: network PHYs, which no device asks for and which
	// must be there before the MAC's driver probes; and on QEMU's virt
	// the NIC and disk drivers, whose devices the QEMU command line
	// fixes, so that they need not wait for the coldplug's walk.
	Modules []string
	// Later are loaded by name as soon as Modules are, beside the steps
	// that follow; the recorder step waits for them, so they are there
	// before the first frame. A driver whose device is already there
	// when it loads probes during its own load, not during the load of
	// its bus's driver: on virt, virtio_input's keyboard (QEMU's 50 ms
	// probe of it ran inside virtio_pci's, which the network waited for).
	Later   []string
	BootDev []string // block devices (names under /dev) that may hold the FAT boot partition
	// BootWait bounds the wait for BootDev; zero means Init's default
	// (20 s: an SD card enumerates well after its driver loads). A
	// virtio disk and its partitions are there as soon as virtio_blk
	// has loaded (its probe and partition scan run inside the module
	// load, which virt's Modules has done by the boot-partition step),
	// so virt only looks once and a machine with no disk boots at once.
	BootWait time.Duration
	// BootAfterFirst says the boot device's driver comes with the
	// coldplug (a Pi's SD host: sdhci-iproc or bcm2835's, and
	// mmc_block, all in recorderPath), so BootWait counts from when the
	// coldplug's first walk has tried the recorder's path, not from the
	// step's start: before, the file systems, the walk of sysfs and
	// those loads at nice 10 under load could eat most of the 20 s.
	BootAfterFirst bool
	// GadgetPort says the board's USB port can be a device port (see
	// GadgetPort), which usb_gadget=auto builds the gadget on.
	GadgetPort bool
}

// Modules every board needs by name, loaded after Board.Modules: the
// FAT boot partition (Debian builds vfat and its code pages as modules;
// iocharset default is ascii or utf8 depending on the kernel, so both
// are loaded). A mount would ask for them with request_module, which
// needs a /sbin/modprobe the initramfs does not have.
var commonModules = []string{"vfat", "nls_cp437", "nls_iso8859_1", "nls_ascii", "nls_utf8"}

// BoardFor names the board from the device tree's model string
// (/proc/device-tree/model, e.g. "Raspberry Pi 3 Model B Plus Rev 1.3")
// and its compatible list (space-separated here, e.g.
// "raspberrypi,3-model-b-plus brcm,bcm2837"; QEMU's virt machine is
// "linux,dummy-virt"). Either is enough: the firmware rewrites the model
// string, the compatible comes from the DTB file itself.
//
// The network PHY drivers are named because the MAC driver asks for them
// with request_module("mdio:<id>"), which needs /sbin/modprobe; without
// them the kernel falls back to its generic PHY driver.
func BoardFor(model, compatible string) Board {
	compat := strings.Fields(compatible)
	is := func(models []string, compats ...string) bool {
		for _, m := range models {
			if strings.Contains(model, m) {
				return true
			}
		}
		for _, c := range compats {
			if slices.Contains(compat, c) {
				return true
			}
		}
		return false
	}
	pi := func(name string, extra ...string) Board {
		return Board{Name: name, Modules: extra, BootDev: []string{"mmcblk0p1", "mmcblk1p1"}, BootAfterFirst: true}
	}
	pi3Plus := strings.Contains(model, "Raspberry Pi 3") && strings.Contains(model, "Plus")
	switch {
	case pi3Plus || is(nil, "raspberrypi,3-model-b-plus", "raspberrypi,3-model-a-plus"):
		return pi("pi3+", "microchip")
	case is([]string{"Raspberry Pi 3"}, "raspberrypi,3-model-b"):
		return pi("pi3", "smsc")
	case is([]string{"Raspberry Pi Zero 2"}, "raspberrypi,model-zero-2-w"):
		// No Ethernet: the USB port becomes a network card for the
		// laptop (the usb-gadget step loads gadget.Modules by name;
		// coldplug loads dwc2, the DTB sets its port to dr_mode otg).
		return pi("zero2w")
	case is([]string{"Raspberry Pi 4", "Raspberry Pi 400", "Compute Module 4"},
		"raspberrypi,4-model-b", "raspberrypi,400", "raspberrypi,4-compute-module"):
		return pi("pi4", "broadcom")
	case is(nil, "linux,dummy-virt"):
		// virtio_input too, Later (after virtio_pci has probed the NIC
		// and the disk): QEMU's keyboard carries the demo's Ctrl-C
		// (sendkey ctrl-alt-delete, PID 1's SIGINT), which must shut the
		// camera down cleanly from its first frame, not only once the
		// background coldplug reached the keyboard.
		return Board{Name: "qemu-virt", Modules: []string{"virtio_pci", "virtio_net", "virtio_blk"},
			Later:   []string{"virtio_input"},
			BootDev: []string{"vda1", "mmcblk0p1"}, BootWait: time.Millisecond}
	}
	return pi("unknown", "smsc", "microchip", "broadcom")
}

// ReadBoard reads the device tree under procDir (/proc) and returns the
// board with the model string for the log.
func ReadBoard(procDir string) (Board, string) {
	model, _ := os.ReadFile(filepath.Join(procDir, "device-tree/model"))
	compat, _ := os.ReadFile(filepath.Join(procDir, "device-tree/compatible"))
	m := string(bytes.TrimRight(model, "\x00\n"))
	// compatible is a NUL-separated list.
	c := strings.ReplaceAll(string(bytes.TrimRight(compat, "\x00")), "\x00", " ")
	b := BoardFor(m, c)
	b.GadgetPort = GadgetPort(c)
	return b, m
}

// GadgetPort reports whether the device tree's compatible list (space
// separated) names a board whose USB port is wired as a device port:
// the Pi Zero 2 W (its data port, dr_mode "otg" in the DTB) and the
// Pi 4 B (its USB-C port, a peripheral-only dwc2). The Pi 400's and the
// Pi 3's ports are host ports or power only, and the CM4's depends on
// its carrier board: usb_gadget=on builds it there anyway.
func GadgetPort(compatible string) bool {
	for _, c := range strings.Fields(compatible) {
		switch c {
		case "raspberrypi,model-zero-2-w", "raspberrypi,4-model-b":
			return true
		}
	}
	return false
}

// LoadModules loads each module with its dependencies (modules.dep under
// /lib/modules/<release>, which the image builder writes with depmod).
// Every module is tried: one that is missing or fails is reported and the
// rest still load, because a camera module failing must not also take the
// network away. opts.RootDir, KVer and DryRunCB let tests load from a
// fake tree without a kernel.
func LoadModules(names []string, opts kmodule.ProbeOpts) []error {
	var errs []error
	for _, l := range loadNamed(names, opts) {
		if l.Err != nil {
			errs = append(errs, fmt.Errorf("module %s: %w", l.Module, l.Err))
		}
	}
	return errs
}

// loadNamed is LoadModules with each module's outcome.
func loadNamed(names []string, opts kmodule.ProbeOpts) []coldplug.Load {
	p, err := kmodule.NewProber(opts)
	return loadNamedWith(p, err, names, false)
}

// loadNamedWith loads names with p, all at once (a module's
// dependencies still load before it, and a shared one once: u-root's
// Prober does both); err is NewProber's, each module's error when set.
// The result is in the order of names. With background each load runs
// on a thread of its own at nice 10 (backgroundThread), which ends with
// it.
func loadNamedWith(p *kmodule.Prober, err error, names []string, background bool) []coldplug.Load {
	var out []coldplug.Load
	for _, n := range names {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, coldplug.Load{Module: n, Err: err})
		}
	}
	if err != nil {
		return out
	}
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() {
			// Its own goroutine: a panic here would end PID 1.
			defer func() {
				if r := recover(); r != nil {
					out[i].Err = fmt.Errorf("panic: %v", r)
				}
			}()
			if background {
				backgroundThread(func(string, ...any) {})
			}
			t := time.Now()
			out[i].Err = p.Probe(out[i].Module, "")
			out[i].Took = time.Since(t)
		})
	}
	wg.Wait()
	return out
}

// Modules is what the modules step did, for the boot report: the
// modules loaded by name and the coldplug's result so far.
type Modules struct {
	Named    []coldplug.Load
	Coldplug coldplug.Result
	// Loading is true until the coldplug's first pass has ended.
	Loading bool
}

// recorderPath are the modules the first frame waits for, which the
// coldplug loads before the others its walk finds: the network card and
// its bus (USB host, PCI, virtio), the SD card with the settings, the
// camera, and the regulators the Pi 4's SD card needs to probe. Anything
// else (thermal, watchdog, LED, input, crypto) comes after them.
var recorderPath = []string{
	"virtio_pci", "virtio_net", "virtio_blk",
	"dwc2", "smsc95xx", "lan78xx", "bcmgenet", "cdc_ether", "cdc_ncm", "xhci_pci", "reset_raspberrypi",
	"sdhci_iproc", "bcm2835", "mmc_block", "gpio_regulator", "fixed",
	"vchiq", "bcm2835_mmal_vchiq", "bcm2835_v4l2",
}

// loadDrivers is boot step 4's loading, in three stages by what the
// first frame needs; under QEMU's emulation the guest's CPUs are what
// everything waits for, so an earlier stage does not share them with a
// later one:
//
//  1. the board's named modules (Board.Modules: virt's NIC and disk, a
//     Pi's network PHY, which must be there before its MAC's driver
//     probes), all at once (u-root's Prober is safe for concurrent use
//     and loads a shared dependency once). The step waits only for
//     these.
//  2. in the background, each at nice 10, the boot partition's file
//     system (commonModules; none on a board without a boot device,
//     see background); the boot-partition step waits for them before it
//     mounts (in.fsReady). Beside them the board's Later modules.
//  3. then the coldplug: every device the kernel registered gets the
//     modules its modalias matches (the recorder's path first), and the
//     Plugger keeps loading drivers for devices that appear later, such
//     as USB, for as long as PID 1 runs. Its walk of sysfs alone takes a
//     second or more under emulation. in.drivers is closed when its
//     first pass has ended (waitDrivers).
//
// The kernel command line's module_blacklist= is honoured (QEMU's
// raspi3b keeps bcm2835_wdt out with it).
func (in *Init) loadDrivers(board Board) {
	start := time.Now()
	// One prober for the named modules and the coldplug: modules.dep is
	// parsed once (a second parse, and /proc/modules, cost time under
	// QEMU's emulation).
	rel, relErr := kernelRelease()
	pr, prErr := kmodule.NewProber(kmodule.ProbeOpts{KVer: rel})
	err := relErr
	if err == nil {
		err = prErr
	}
	fsReady, first, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	in.mu.Lock()
	in.fsReady, in.driversFirst, in.drivers = fsReady, first, done
	in.driversBy = start.Add(in.driversWait())
	in.mu.Unlock()

	// The coldplug's table (modules.alias) is read beside the named
	// modules' loading, at nice 10, instead of before it: the first
	// frame waits for the named ones.
	named := make(chan struct{})
	plugger := func() (*coldplug.Plugger, error) {
		if err != nil {
			return nil, err
		}
		cmdline, _ := os.ReadFile("/proc/cmdline")
		return newPlugger("/", rel, string(cmdline), coldplug.KmodLoad(pr), in.logf)
	}
	go in.background(pr, prErr, plugger, board, start, named, fsReady, first, done)
	in.loadNamed(pr, prErr, board.Modules, start, false)
	close(named)
	if len(board.Later) > 0 {
		later := make(chan struct{})
		in.mu.Lock()
		in.later = later
		in.mu.Unlock()
		go func() {
			defer close(later)
			defer func() {
				// Its own goroutine: a panic here would end PID 1.
				if r := recover(); r != nil {
					in.logf("modules %v: panic: %v", board.Later, r)
				}
			}()
			in.loadNamed(pr, prErr, board.Later, start, false)
		}()
	}
}

// anyBlock reports whether one of the block devices names is under
// sysBlock (/sys/class/block).
func anyBlock(sysBlock string, names []string) bool {
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(sysBlock, n)); err == nil {
			return true
		}
	}
	return false
}

// waitLater waits until the board's Later modules are loaded (or
// failed), at most until the drivers' bound (see waitDrivers).
func (in *Init) waitLater() {
	in.mu.Lock()
	c := in.later
	in.mu.Unlock()
	if c == nil {
		return
	}
	select {
	case <-c:
	case <-in.driversDeadline():
		in.logf("recorder: gave up waiting for modules loaded after the first after %v", in.driversWait())
	}
}

// background is loadDrivers' goroutine: the coldplug's table (plugger
// reads modules.alias) beside the named modules, then once named is
// closed the file systems, then the coldplug; it closes fsReady, first
// (the coldplug's First modules tried) and done (its first pass ended)
// as each is reached. A panic in it (a module
// loader's, the coldplug's) is caught here: Run's recover does not see
// other goroutines, and an uncaught one ends PID 1. It is logged and
// goes in the boot report; whatever was not reached counts as ended, so
// no step waits for it, and the devices that appear later get no
// drivers.
func (in *Init) background(pr *kmodule.Prober, prErr error, plugger func() (*coldplug.Plugger, error),
	board Board, start time.Time, named <-chan struct{}, fsReady, first, done chan struct{}) {
	closeFS, closeFirst, closeDone := sync.OnceFunc(func() { close(fsReady) }),
		sync.OnceFunc(func() { close(first) }), sync.OnceFunc(func() { close(done) })
	defer func() {
		if r := recover(); r != nil {
			msg := fmt.Sprintf("coldplug: panic: %v (no more drivers are loaded; the boot carries on)", r)
			in.logf("%s", msg)
			in.facts.update(func(b *bootreport.Init) { b.Faults = append(b.Faults, msg) })
		}
		closeFS()
		closeFirst()
		closeDone()
		in.facts.update(func(*bootreport.Init) {}) // no longer Loading
	}()
	backgroundThread(in.logf)
	plug, err := plugger()
	in.mu.Lock()
	in.plug = plug
	in.mu.Unlock()
	<-named
	// The file systems at nice 10 too: they load while the network and
	// the recorder, which the first frame waits for, start. A board
	// whose boot device's driver is named (virt) knows by now whether
	// it has one; without one, nothing mounts FAT and they are left out
	// (they cost the first frame 25–30 ms under QEMU's emulation, even
	// at nice 10).
	if board.BootAfterFirst || anyBlock("/sys/class/block", board.BootDev) {
		in.loadNamed(pr, prErr, commonModules, start, true)
	} else {
		in.logf("no boot partition (%s): file system modules not loaded", strings.Join(board.BootDev, ", "))
	}
	closeFS()
	if err != nil {
		in.logf("coldplug: %v (only the named modules are loaded)", err)
		return
	}
	plug.First = recorderPath
	plug.FirstDone = closeFirst
	plug.Start(context.Background())
	r := plug.Result()
	stuck := 0
	for _, u := range r.Unbound {
		if len(u.Modules) > 0 {
			stuck++
		}
	}
	in.logf("coldplug: %d modules loaded, %d failed, %d skipped, %dms after the modules step began (sysfs walk %dms); %d devices without a driver (%d whose module did not bind)",
		len(r.Loaded), len(r.Failed), len(r.Skipped), time.Since(start).Milliseconds(),
		r.ScanTook.Milliseconds(), len(r.Unbound), stuck)
}

// backgroundThread gives the calling goroutine a thread of its own at
// nice 10 for the rest of its life: the coldplug's walk and module loads
// (system calls, whose kernel work counts against the thread) then take
// the CPUs only when the recorder and the network, which the first frame
// waits for, do not need them. Under QEMU's emulation the guest's CPUs
// are the bottleneck of the whole boot. The thread is never unlocked, so
// it ends with the goroutine instead of serving others at that nice.
func backgroundThread(logf func(string, ...any)) {
	runtime.LockOSThread()
	if err := unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), 10); err != nil {
		logf("coldplug: setpriority: %v (loading at normal priority)", err)
	}
}

// loadNamed loads names (loadNamedWith), logs each failure and one line
// with each module's time, and adds them to what ModuleReport returns.
func (in *Init) loadNamed(pr *kmodule.Prober, prErr error, names []string, start time.Time, background bool) {
	if len(names) == 0 {
		return
	}
	loads := loadNamedWith(pr, prErr, names, background)
	var took []string
	for _, l := range loads {
		if l.Err != nil {
			in.logf("module %s: %v", l.Module, l.Err)
		} else {
			took = append(took, fmt.Sprintf("%s %dms", l.Module, l.Took.Milliseconds()))
		}
	}
	in.mu.Lock()
	in.named = append(in.named, loads...)
	in.mu.Unlock()
	in.logf("modules by name, %dms after the modules step began: %s", time.Since(start).Milliseconds(), strings.Join(took, ", "))
}

// waitFS waits until the boot partition's file system modules are
// loaded (or failed).
func (in *Init) waitFS() {
	in.mu.Lock()
	c := in.fsReady
	in.mu.Unlock()
	if c != nil {
		<-c
	}
}

// waitDrivers waits until the coldplug's first pass has ended (every
// device there was at boot has been offered its modules), at most until
// DriversWait after the modules step began: a driver whose probe hangs
// in the kernel must not hold the boot, the network or the shutdown
// signals forever. It reports whether the pass ended. A wait that ran
// out is logged, named in the boot report (bootreport.Init.Faults) with
// step, the step that waited, and turns on the LED's warning.
func (in *Init) waitDrivers(step string) bool {
	select {
	case <-in.driversDone():
		return true
	case <-in.driversDeadline():
	}
	select {
	case <-in.driversDone(): // both at once: it did end
		return true
	default:
	}
	msg := fmt.Sprintf("%s: gave up waiting for the coldplug's first pass after %v (it goes on in the background; the boot carries on)",
		step, in.driversWait())
	in.logf("%s", msg)
	in.facts.update(func(b *bootreport.Init) { b.Faults = append(b.Faults, msg) })
	if in.led != nil {
		in.led.SetWarning(true)
	}
	return false
}

// driversWait is DriversWait or its default.
func (in *Init) driversWait() time.Duration {
	if in.DriversWait > 0 {
		return in.DriversWait
	}
	return 60 * time.Second
}

// driversDeadline is closed when the bound on the drivers waits has
// passed (from the modules step's start; from the first call for an
// Init whose modules step did not run).
func (in *Init) driversDeadline() <-chan struct{} {
	in.mu.Lock()
	if in.driversBy.IsZero() {
		in.driversBy = time.Now().Add(in.driversWait())
	}
	by := in.driversBy
	in.mu.Unlock()
	c := make(chan struct{})
	time.AfterFunc(time.Until(by), func() { close(c) })
	return c
}

// driversDone is closed once the coldplug's first pass has ended (at
// once for an Init whose modules step did not run).
func (in *Init) driversDone() <-chan struct{} {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.drivers == nil {
		return closed
	}
	return in.drivers
}

// firstDrivers is closed once the coldplug's first walk has tried the
// recorder's path (the SD card's host driver among them), its first
// pass has ended, or the drivers' bound has passed, whichever comes
// first (at once for an Init whose modules step did not run).
func (in *Init) firstDrivers() <-chan struct{} {
	in.mu.Lock()
	first := in.driversFirst
	in.mu.Unlock()
	if first == nil {
		return closed
	}
	c := make(chan struct{})
	go func() {
		defer close(c)
		select {
		case <-first:
		case <-in.driversDone():
		case <-in.driversDeadline():
		}
	}()
	return c
}

// closed is a closed channel.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// ModuleReport returns what the modules step did so far (the coldplug
// goes on loading drivers for devices that appear later).
func (in *Init) ModuleReport() Modules {
	in.mu.Lock()
	named, p := in.named, in.plug
	in.mu.Unlock()
	m := Modules{Named: named}
	if p != nil {
		m.Coldplug = p.Result()
	}
	select {
	case <-in.driversDone():
	default:
		m.Loading = true
	}
	return m
}

// newPlugger sets up the coldplug for the running kernel's module tree
// under root (/lib/modules/<release>: the initramfs's modules.alias, cut
// down by the image builder to the modules it carries).
func newPlugger(root, rel, cmdline string, load func(string) error, logf func(string, ...any)) (*coldplug.Plugger, error) {
	aliases, err := coldplug.ReadAliases(filepath.Join(root, "lib/modules", rel, "modules.alias"))
	if err != nil {
		return nil, err
	}
	return &coldplug.Plugger{
		Sys: filepath.Join(root, "sys"), Aliases: aliases, Load: load,
		Blacklist: coldplug.CmdlineBlacklist(cmdline), Logf: logf,
	}, nil
}

// kernelRelease is uname -r: the directory under /lib/modules.
func kernelRelease() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("uname: %w", err)
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}
