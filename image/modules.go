package image

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Module is one kernel module the initramfs carries, with why.
type Module struct {
	Name string
	Why  string
	// Optional modules are left out, with a log line, when a kernel
	// version does not build them; the rest are an error when missing.
	Optional bool
}

// Modules are the kernel modules the boards need. Everything in Debian's
// arm64 kernel is a module, so the initramfs carries these and the
// closure of their dependencies over modules.dep — not the 300 MB tree.
var Modules = []Module{
	{Name: "virtio_pci", Why: "QEMU virt: the PCI transport of virtio-net"},
	{Name: "virtio_net", Why: "QEMU virt: the NIC"},
	{Name: "virtio_blk", Why: "QEMU virt: the image as a disk (boot partition on vda1)"},
	{Name: "virtio_input", Why: "QEMU virt: a keyboard, so the host can send Ctrl-Alt-Del (clean shutdown)"},
	{Name: "sdhci-iproc", Why: "Pi: SD card controller (Pi 4 emmc2, Pi 3 sdhci)"},
	{Name: "bcm2835", Why: "Pi 3: SD card host (sdhost)"},
	{Name: "mmc_block", Why: "SD card block device (built in on Debian; kept for other kernels)", Optional: true},
	{Name: "vfat", Why: "reading camwire.txt from the boot partition"},
	{Name: "fat", Why: "vfat's base"},
	{Name: "nls_cp437", Why: "vfat's default codepage"},
	{Name: "nls_iso8859-1", Why: "vfat's iocharset for long names"},
	{Name: "nls_ascii", Why: "vfat's iocharset on kernels that default to ascii", Optional: true},
	{Name: "nls_utf8", Why: "vfat's iocharset=utf8", Optional: true},
	{Name: "dwc2", Why: "Pi 3: the USB controller the Ethernet chip hangs off"},
	{Name: "phy-generic", Why: "Pi 3: dwc2's USB PHY (usb-nop-xceiv)", Optional: true},
	{Name: "smsc95xx", Why: "Pi 3B Ethernet"},
	{Name: "lan78xx", Why: "Pi 3B+ Ethernet"},
	{Name: "microchip", Why: "Pi 3B+ Ethernet PHY", Optional: true},
	{Name: "genet", Why: "Pi 4 Ethernet"},
	{Name: "mdio-bcm-unimac", Why: "Pi 4 Ethernet MDIO bus", Optional: true},
	{Name: "broadcom", Why: "Pi 4 Ethernet PHY", Optional: true},
	{Name: "cdc_ether", Why: "QEMU raspi3b's usb-net NIC"},
	{Name: "usbnet", Why: "USB NICs' base"},
	{Name: "g_ether", Why: "Pi Zero 2 W: the USB port as an Ethernet gadget", Optional: true},
	{Name: "usb_f_ecm", Why: "g_ether's ECM function (loaded by name, not a symbol dependency)", Optional: true},
	{Name: "usbhid", Why: "USB keyboard: Ctrl-Alt-Del shuts down cleanly (also QEMU raspi3b's usb-kbd)"},
	{Name: "hid-generic", Why: "USB keyboard's HID driver"},
	{Name: "bcm2835_wdt", Why: "Pi: hardware watchdog and reboot"},
	{Name: "leds-gpio", Why: "Pi: the ACT LED (status), a gpio-leds device"},
	{Name: "vchiq", Why: "Pi: VideoCore message queue (camera)"},
	{Name: "bcm2835-mmal-vchiq", Why: "Pi: MMAL over vchiq (camera)"},
	{Name: "bcm2835-v4l2", Why: "Pi: the camera's V4L2 driver (H.264 from the GPU)"},
	{Name: "vivid", Why: "tests: a virtual V4L2 camera in QEMU"},
}

// moduleSet is the chosen modules with their dependency closure, as paths
// relative to /lib/modules/<ver>.
type moduleSet struct {
	// Files are .ko paths in the kernel package, sorted; in the
	// initramfs each is at initramfsModulePath.
	Files []string
	// Dep is the modules.dep for exactly these files.
	Dep string
	// Alias is modules.alias restricted to these modules.
	Alias string
	// Builtin is the kernel's modules.builtin, so probing a built-in
	// module (mmc_block) succeeds instead of failing to find a file.
	Builtin string
	// Missing names optional modules this kernel does not have.
	Missing []string
}

// moduleBase is the name a module file answers to: dashes and
// underscores are the same to the kernel.
func moduleBase(p string) string {
	b := strings.TrimSuffix(path.Base(p), ".ko")
	return strings.ReplaceAll(b, "-", "_")
}

// selectModules computes the closure of mods over dir/modules.dep.
func selectModules(dir string, mods []Module) (moduleSet, error) {
	dep, order, err := readModulesDep(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return moduleSet{}, err
	}
	builtinB, err := os.ReadFile(filepath.Join(dir, "modules.builtin"))
	if err != nil && !os.IsNotExist(err) {
		return moduleSet{}, err
	}
	builtin := map[string]bool{}
	for _, l := range strings.Fields(string(builtinB)) {
		builtin[moduleBase(l)] = true
	}
	byName := map[string]string{}
	for _, p := range order {
		byName[moduleBase(p)] = p
	}

	var set moduleSet
	set.Builtin = string(builtinB)
	chosen := map[string]bool{}
	var add func(p string)
	add = func(p string) {
		if chosen[p] {
			return
		}
		chosen[p] = true
		for _, d := range dep[p] {
			add(d)
		}
	}
	for _, m := range mods {
		key := strings.ReplaceAll(m.Name, "-", "_")
		p, ok := byName[key]
		switch {
		case ok:
			add(p)
		case builtin[key]:
		case m.Optional:
			set.Missing = append(set.Missing, m.Name)
		default:
			return moduleSet{}, fmt.Errorf("kernel module %s (%s) is neither in %s/modules.dep nor built in", m.Name, m.Why, dir)
		}
	}
	var b strings.Builder
	for _, p := range order {
		if !chosen[p] {
			continue
		}
		set.Files = append(set.Files, p)
		fmt.Fprintf(&b, "%s:", initramfsModulePath(p))
		for _, d := range dep[p] {
			fmt.Fprintf(&b, " %s", initramfsModulePath(d))
		}
		b.WriteByte('\n')
	}
	set.Dep = b.String()
	sort.Strings(set.Files)

	names := map[string]bool{}
	for _, p := range set.Files {
		names[moduleBase(p)] = true
	}
	alias, err := filterAliases(filepath.Join(dir, "modules.alias"), names)
	if err != nil {
		return moduleSet{}, err
	}
	set.Alias = alias
	return set, nil
}

// initramfsModulePath is where a module file goes in the initramfs: its
// name with underscores only. u-root's kmodule finds a module by trying
// the name with all dashes and with all underscores, so Debian's
// nls_iso8859-1.ko (both) could not be found by any name; the kernel takes
// a module's name from inside the file, so renaming the file is harmless.
func initramfsModulePath(p string) string {
	dir, base := path.Split(p)
	return dir + strings.ReplaceAll(base, "-", "_")
}

// readModulesDep parses "path: dep dep..." lines, keeping file order (the
// order depmod wrote, so the output is stable).
func readModulesDep(file string) (map[string][]string, []string, error) {
	fh, err := os.Open(file)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (depmod not run on this tree?)", err)
	}
	defer fh.Close()
	dep := map[string][]string{}
	var order []string
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		mod, deps, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			return nil, nil, fmt.Errorf("%s:%d: no ':' in %q", file, n, sc.Text())
		}
		dep[mod] = strings.Fields(deps)
		order = append(order, mod)
	}
	return dep, order, sc.Err()
}

// filterAliases keeps "alias PATTERN module" lines for the given modules.
func filterAliases(file string, names map[string]bool) (string, error) {
	b, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	var out strings.Builder
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == "alias" && names[strings.ReplaceAll(f[2], "-", "_")] {
			out.WriteString(l)
			out.WriteByte('\n')
		}
	}
	return out.String(), nil
}
