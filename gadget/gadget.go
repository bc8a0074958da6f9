// Package gadget turns the Pi's USB device port (the Zero 2 W's data
// port, the Pi 4's USB-C) into a network card and a serial console for
// the laptop at the other end of the cable, with a configfs composite
// gadget (libcomposite).
//
// Why configfs and not g_ether: Debian's g_ether is RNDIS plus ECM in
// fixed configurations, so Windows users pick a driver by hand and macOS
// is reported to reject the RNDIS+ECM composite. A configfs gadget picks
// its own functions and descriptors:
//
//   - RNDIS, first, with Microsoft OS descriptors (compatible id
//     "RNDIS", sub id "5162001"): Windows 7–10 bind their built-in RNDIS
//     driver to it with no driver install (as PiKVM, P4wnP1 and the
//     BeagleBone boot scripts report; not tried on Windows here).
//   - NCM: Linux (cdc_ncm), macOS and Windows 11 have class drivers.
//     Windows 10's NCM driver is reported to misbehave, hence RNDIS too.
//   - ACM, a serial console on the same cable (/dev/ttyGS0 on the Pi,
//     /dev/ttyACM0 on Linux, /dev/cu.usbmodem* on macOS, a COM port on
//     Windows 10+). Trade-offs: it costs a third function and two
//     endpoints on the Pi's small endpoint budget (dwc2 has 8); Windows
//     before 10 wants an .inf for it; and a console on it is only there
//     once the gadget is built, i.e. after PID 1 has loaded its modules,
//     so early boot messages and a crash before that step are only on
//     the UART. It is a console for a working camera, not for rescue.
//
// Windows caches a device's descriptors by vendor and product id, so the
// product id changes whenever the set of functions changes (ProductID).
//
// MAC addresses are derived from the board's serial number
// (/proc/device-tree/serial-number), one pair (Pi side, laptop side) per
// network function: the laptop sees the same network card on every boot
// and keeps its settings for it, and two cameras never share an address.
//
// Unplugging and replugging: on a Pi the UDC notices the cable itself
// and the gadget stays bound. Rebuilding a gadget (Teardown then Build)
// is covered by a unit test on a temporary tree only: under QEMU's
// dummy_hcd a simulated replug (unbind and rebind the UDC) does not
// re-enumerate on the host side (the host reports error -71, EPROTO), so
// replug is not proven on a real kernel here.
//
// One address for both network functions: netcfg manages one link, so
// JoinBridge makes RNDIS's and NCM's Pi-side interfaces the ports of
// one bridge (BridgeName, with a MAC from the serial) and the camera's
// address and DHCP server go on the bridge; whichever function the
// laptop's driver picked reaches them.
//
// What is proven on a real kernel: e2e's TestVirtGadget builds this
// gadget and its bridge on the image's kernel under dummy_hcd, with the
// host side binding both network functions as a Linux laptop does, and
// leases an address and records through the bridge once over NCM
// (cdc_ncm) and once over RNDIS (rndis_host). The ACM console is not
// exercised there, nor are Windows' and macOS's drivers.
//
// All paths hang off Gadget.ConfigFS and Gadget.UDCDir so the tests run
// on a temporary directory with no kernel.
package gadget

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Default paths on a running kernel.
const (
	DefaultConfigFS = "/sys/kernel/config"
	DefaultUDCDir   = "/sys/class/udc"
)

// Modules are the kernel modules a gadget needs. None of them has a
// device to be probed for (no modalias), so PID 1 loads them by name.
var Modules = []string{"libcomposite", "usb_f_rndis", "usb_f_ncm", "usb_f_acm", "bridge"}

// Functions is the set of USB functions the gadget carries.
type Functions struct {
	RNDIS bool // network for Windows 7–10
	NCM   bool // network for Linux, macOS, Windows 11
	ACM   bool // serial console
}

// AllFunctions is what camwire builds.
var AllFunctions = Functions{RNDIS: true, NCM: true, ACM: true}

// String names the functions in the order they are linked.
func (f Functions) String() string {
	var n []string
	if f.RNDIS {
		n = append(n, "rndis")
	}
	if f.NCM {
		n = append(n, "ncm")
	}
	if f.ACM {
		n = append(n, "acm")
	}
	if len(n) == 0 {
		return "none"
	}
	return strings.Join(n, "+")
}

// VendorID is the Linux Foundation's, which Linux's own gadgets use;
// product ids 0x0140–0x0147 are camwire's function sets (ProductID).
const VendorID = 0x1d6b

// ProductID is 0x0140 plus one bit per function, so a host that cached
// one set's descriptors sees another set as a new device.
func ProductID(f Functions) uint16 {
	id := uint16(0x0140)
	if f.RNDIS {
		id |= 1
	}
	if f.NCM {
		id |= 2
	}
	if f.ACM {
		id |= 4
	}
	return id
}

// MACs returns the Pi-side and laptop-side addresses for the network
// function fn ("rndis", "ncm") of the board with this serial: an FNV
// hash of both, locally administered, unicast. An empty serial (QEMU)
// gives fixed addresses, still distinct per function and side.
func MACs(serial, fn string) (dev, host net.HardwareAddr) {
	mac := func(side string) net.HardwareAddr {
		h := fnv.New64a()
		h.Write([]byte("camwire-usb\x00" + serial + "\x00" + fn + "\x00" + side))
		s := h.Sum(nil)
		m := net.HardwareAddr(s[:6])
		m[0] = m[0]&^0x01 | 0x02 // unicast, locally administered
		return m
	}
	return mac("dev"), mac("host")
}

// Gadget is one configfs gadget.
type Gadget struct {
	ConfigFS  string // configfs mount, DefaultConfigFS when empty
	UDCDir    string // UDC class directory, DefaultUDCDir when empty
	Name      string // directory under usb_gadget, "camwire" when empty
	Serial    string // the board serial: USB serial number and MACs
	Product   string // product string the laptop shows, "camwire camera" when empty
	Functions Functions
	// Dropped is set by Build: one error per function of Functions
	// whose configfs directory could not be made (its module, usb_f_*,
	// missing from the kernel), naming it. Build leaves those out of
	// Functions and builds the rest.
	Dropped []error

	mkdir func(string) error // os.Mkdir when nil; tests make it fail
}

func (g *Gadget) dir() string {
	root, name := g.ConfigFS, g.Name
	if root == "" {
		root = DefaultConfigFS
	}
	if name == "" {
		name = "camwire"
	}
	return filepath.Join(root, "usb_gadget", name)
}

// ErrNoUDC is returned by Build when the board has no USB device
// controller (no dwc2 in peripheral/otg mode, no dummy_hcd).
var ErrNoUDC = errors.New("no USB device controller")

// FirstUDC returns the first entry of udcDir (/sys/class/udc) by name.
func FirstUDC(udcDir string) (string, error) {
	ents, err := os.ReadDir(udcDir)
	if err != nil && !os.IsNotExist(err) {
		return "", fmt.Errorf("gadget: %w", err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) == 0 {
		return "", fmt.Errorf("gadget: %w in %s", ErrNoUDC, udcDir)
	}
	sort.Strings(names)
	return names[0], nil
}

// Build writes the gadget under configfs and binds it to the first UDC,
// which it returns. A gadget of the same name left from before (a
// restarted PID 1, a rebuild) is torn down first.
func (g *Gadget) Build() (string, error) {
	udcDir := g.UDCDir
	if udcDir == "" {
		udcDir = DefaultUDCDir
	}
	udc, err := FirstUDC(udcDir)
	if err != nil {
		return "", err
	}
	if g.Functions == (Functions{}) {
		return "", fmt.Errorf("gadget: no functions")
	}
	if err := g.Teardown(); err != nil {
		return "", err
	}
	if err := g.dropMissing(); err != nil {
		return "", err
	}
	for _, s := range g.steps() {
		if err := s.do(); err != nil {
			return "", fmt.Errorf("gadget: %v", err)
		}
	}
	if err := write(filepath.Join(g.dir(), "UDC"), udc); err != nil {
		return "", fmt.Errorf("gadget: bind to %s: %v", udc, err)
	}
	return udc, nil
}

// dropMissing makes each function's directory and takes the functions
// whose directory cannot be made out of g.Functions, with an error each
// in g.Dropped: configfs refuses the directory (ENOENT) when the
// function's module is not in the kernel, and a gadget without RNDIS is
// still a network card for Linux and macOS, where none at all is
// nothing. Only when no function is left is it an error.
func (g *Gadget) dropMissing() error {
	g.Dropped = nil
	if err := os.MkdirAll(filepath.Join(g.dir(), "functions"), 0o755); err != nil {
		return fmt.Errorf("gadget: %v", err)
	}
	mkdir := g.mkdir
	if mkdir == nil {
		mkdir = func(p string) error { return os.Mkdir(p, 0o755) }
	}
	f := &g.Functions
	for _, fn := range []struct {
		name string
		on   *bool
	}{{"rndis", &f.RNDIS}, {"ncm", &f.NCM}, {"acm", &f.ACM}} {
		if !*fn.on {
			continue
		}
		if err := mkdir(filepath.Join(g.dir(), "functions", fn.name+".usb0")); err != nil && !os.IsExist(err) {
			*fn.on = false
			g.Dropped = append(g.Dropped, fmt.Errorf("gadget: function %s left out: %v", fn.name, err))
		}
	}
	if *f == (Functions{}) {
		return fmt.Errorf("gadget: no function could be made: %w", errors.Join(g.Dropped...))
	}
	return nil
}

// Teardown unbinds and removes the gadget, in the reverse order configfs
// demands (links, then strings, configs, functions, the gadget). A
// gadget that is not there is no error.
func (g *Gadget) Teardown() error {
	d := g.dir()
	if _, err := os.Stat(d); os.IsNotExist(err) {
		return nil
	}
	// Unbind: an empty line is what the kernel takes; it refuses one
	// (ENODEV) when the gadget is not bound, so look first.
	if b, _ := os.ReadFile(filepath.Join(d, "UDC")); strings.TrimSpace(string(b)) != "" {
		if err := write(filepath.Join(d, "UDC"), "\n"); err != nil {
			return fmt.Errorf("gadget: unbind: %v", err)
		}
	}
	var errs []error
	rm := func(p string) {
		if err := rmdir(p); err != nil {
			errs = append(errs, err)
		}
	}
	each := func(pattern string, f func(string)) {
		m, _ := filepath.Glob(filepath.Join(d, pattern))
		for _, p := range m {
			f(p)
		}
	}
	rm(filepath.Join(d, "os_desc", "c.1"))
	each("configs/*/*.*", func(p string) {
		if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			rm(p)
		}
	})
	each("configs/*/strings/*", rm)
	each("configs/*", rm)
	each("functions/*", rm)
	each("strings/*", rm)
	rm(d)
	if len(errs) > 0 {
		return fmt.Errorf("gadget: teardown: %w", errors.Join(errs...))
	}
	return nil
}
