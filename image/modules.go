package image

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/camwire/camwire/coldplug"
	"github.com/camwire/camwire/image/bootpkg"
	"github.com/u-root/u-root/pkg/dt"
)

// Module is one kernel module the initramfs carries, with why.
type Module struct {
	Name string
	Why  string
	// Optional modules are left out, with a log line, when a kernel
	// version does not build them; the rest are an error when missing.
	Optional bool
}

// Modules are the kernel modules that no shipped device tree names, with
// why. Everything else comes from the boards' device trees (see
// BoardModules): on the device, camwire-init loads what the devices match
// (package coldplug), so the initramfs must carry every module a shipped
// board's devices match, and these.
var Modules = []Module{
	// QEMU's virt machine has no DTB in the image (QEMU writes its own);
	// its devices are virtio ones on PCI.
	{Name: "virtio_pci", Why: "QEMU virt: the PCI transport of virtio-net"},
	{Name: "virtio_net", Why: "QEMU virt: the NIC"},
	{Name: "virtio_blk", Why: "QEMU virt: the image as a disk (boot partition on vda1)"},
	{Name: "virtio_input", Why: "QEMU virt: a keyboard, so the host can send Ctrl-Alt-Del (clean shutdown)"},
	// File systems and code pages have no device: PID 1 loads them by name.
	{Name: "mmc_block", Why: "SD card block device (built in on Debian; kept for other kernels)", Optional: true},
	{Name: "vfat", Why: "reading camwire.txt from the boot partition"},
	{Name: "nls_cp437", Why: "vfat's default codepage"},
	{Name: "nls_iso8859-1", Why: "vfat's iocharset for long names"},
	{Name: "nls_ascii", Why: "vfat's iocharset on kernels that default to ascii", Optional: true},
	{Name: "nls_utf8", Why: "vfat's iocharset=utf8", Optional: true},
	// Network PHYs: the MAC's probe asks for them with
	// request_module("mdio:<id>"), which needs a /sbin/modprobe this
	// initramfs does not have, so PID 1 loads them by name.
	{Name: "smsc", Why: "Pi 3B: the LAN9514's internal PHY", Optional: true},
	{Name: "microchip", Why: "Pi 3B+: the LAN7800's PHY", Optional: true},
	{Name: "broadcom", Why: "Pi 4: the BCM54213PE PHY on genet", Optional: true},
	// Devices that a driver registers itself (no device-tree node).
	{Name: "bcm2835_wdt", Why: "Pi: watchdog and reboot, the platform:bcm2835-wdt child of the PM block (built-in bcm2835-pm)"},
	{Name: "bcm2835-v4l2", Why: "Pi: the camera (H.264 from the GPU), the platform:bcm2835-camera child that vchiq registers"},
	{Name: "xhci_pci", Why: "Pi 4: the VL805 USB 3 controller behind PCIe, matched by PCI class (the device tree names only pci1106,3483)"},
	// USB devices someone plugs in.
	{Name: "cdc_ether", Why: "USB Ethernet adapters, and QEMU raspi3b's usb-net NIC"},
	{Name: "usbhid", Why: "USB keyboard: Ctrl-Alt-Del shuts down cleanly (also QEMU raspi3b's usb-kbd)"},
	{Name: "hid-generic", Why: "USB keyboard's HID driver"},
	// USB gadget functions have no device until configured: PID 1's
	// usb-gadget step loads them by name (gadget.Modules).
	{Name: "libcomposite", Why: "Zero 2 W, Pi 4 USB-C: the configfs USB gadget (package gadget)"},
	{Name: "usb_f_rndis", Why: "the gadget's RNDIS function, Windows 7-10"},
	{Name: "usb_f_ncm", Why: "the gadget's NCM function, Linux, macOS, Windows 11"},
	{Name: "usb_f_acm", Why: "the gadget's serial console"},
	{Name: "bridge", Why: "the bridge joining the gadget's RNDIS and NCM into one link (gadget.BridgeName)"},
	// The laptop's side of the gadget, in the same QEMU guest (tests);
	// USB devices, so coldplug loads them when the gadget enumerates.
	{Name: "dummy_hcd", Why: "tests: a USB device controller and its host in one QEMU virt kernel"},
	{Name: "cdc_ncm", Why: "tests: the host side of the gadget's NCM"},
	{Name: "rndis_host", Why: "tests: the host side of the gadget's RNDIS"},
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

// withoutModule lists the compatibles of shipped boards' enabled nodes
// that the initramfs carries no module for, and why. Everything else must
// resolve to a carried module or a built-in driver (TestDTBCoverage).
var withoutModule = byCompatible(map[string][]string{
	"a CPU: architecture code, no driver":                                                                       {"arm,cortex-a53", "arm,cortex-a72"},
	"a cache description, no driver":                                                                            {"cache"},
	"no arm64 driver; the kernel uses the ARM architected timer":                                                {"brcm,bcm2835-system-timer"},
	"a USB hub: usbcore's hub driver (built in) binds it by class":                                              {"usb424,2514", "usb424,9514"},
	"Pi 400's power-off GPIO: Debian's kernel has no driver (POWER_RESET_GPIO is off)":                          {"gpio-poweroff"},
	"the Wi-Fi chip: brcmfmac matches its SDIO card and needs firmware files the image lacks; camwire is wired": {"brcm,bcm4329-fmac"},
	"Bluetooth: camwire does not use it (hci_uart and the Bluetooth stack, 2.4 MB, and firmware)":               {"brcm,bcm43438-bt"},
	"the KMS display pipeline (vc4, v3d and their parts, 3.6 MB with DRM): the console stays on the firmware's framebuffer (simple-framebuffer, built in)": {
		"brcm,bcm2835-vc4", "brcm,bcm2711-vc5", "brcm,bcm2835-v3d", "brcm,2711-v3d",
		"brcm,bcm2835-hdmi", "brcm,bcm2711-hdmi0", "brcm,bcm2711-hdmi1", "brcm,bcm2835-hvs", "brcm,bcm2711-hvs",
		"brcm,bcm2835-pixelvalve0", "brcm,bcm2835-pixelvalve1", "brcm,bcm2835-pixelvalve2",
		"brcm,bcm2711-pixelvalve0", "brcm,bcm2711-pixelvalve1", "brcm,bcm2711-pixelvalve2", "brcm,bcm2711-pixelvalve4",
		"brcm,bcm2835-txp", "brcm,bcm2835-vec", "brcm,bcm2835-dsi0", "brcm,bcm2835-dsi1", "brcm,bcm2711-dsi1",
	},
})

// byCompatible turns why → compatibles into compatible → why.
func byCompatible(m map[string][]string) map[string]string {
	out := map[string]string{}
	for why, compats := range m {
		for _, c := range compats {
			out[c] = why
		}
	}
	return out
}

// NodeNeed is what one node of a shipped device tree needs.
type NodeNeed struct {
	DTB  string
	Node coldplug.DTNode
	// Modules are the modules its modaliases match in modules.alias.
	Modules []string
	// Builtin is the compatible a built-in driver matches ("" if none).
	Builtin string
	// NoModule is why the initramfs carries no module for it (from
	// withoutModule), "" if it should have one.
	NoModule string
}

// BoardNeeds reads the shipped DTBs and says, for every node a board
// needs driven (enabled, or a supplier of one: see
// coldplug.DeviceTreeNodes), which modules of the kernel package match it.
// The result depends on the kernel package only and takes seconds (25,000
// aliases, a 32 MB kernel), so it is computed once per package.
func BoardNeeds(p bootpkg.Parts) ([]NodeNeed, error) {
	needsMu.Lock()
	defer needsMu.Unlock()
	if n, ok := needsCache[p.KernelRoot]; ok {
		return n, nil
	}
	n, err := boardNeeds(p)
	if err == nil {
		needsCache[p.KernelRoot] = n
	}
	return n, err
}

var (
	needsMu    sync.Mutex
	needsCache = map[string][]NodeNeed{}
)

func boardNeeds(p bootpkg.Parts) ([]NodeNeed, error) {
	aliases, err := coldplug.ReadAliases(filepath.Join(p.ModulesDir(), "modules.alias"))
	if err != nil {
		return nil, fmt.Errorf("board modules: %w", err)
	}
	kernel, err := os.ReadFile(p.Kernel())
	if err != nil {
		return nil, fmt.Errorf("board modules: %w", err)
	}
	builtin := map[string]bool{}
	matches := map[string][]string{} // the boards share most nodes
	var needs []NodeNeed
	for _, name := range dtbFiles {
		fdt, err := dt.ReadFile(p.DTB(name))
		if err != nil {
			return nil, fmt.Errorf("board modules: %s: %w", name, err)
		}
		for _, n := range coldplug.DeviceTreeNodes(fdt.RootNode) {
			need := NodeNeed{DTB: name, Node: n}
			for _, ma := range n.Modaliases {
				m, ok := matches[ma]
				if !ok {
					m = aliases.Match(ma)
					matches[ma] = m
				}
				need.Modules = append(need.Modules, m...)
			}
			for _, c := range n.Compatible {
				if why, ok := withoutModule[c]; ok && need.NoModule == "" {
					need.NoModule = why
				}
			}
			if len(need.Modules) == 0 {
				for _, c := range n.Compatible {
					b, ok := builtin[c]
					if !ok {
						b = coldplug.InKernelImage(kernel, c)
						builtin[c] = b
					}
					if b {
						need.Builtin = c
						break
					}
				}
			}
			needs = append(needs, need)
		}
	}
	return needs, nil
}

// boardModules are the modules the needs ask the initramfs to carry,
// each once, with the first node that wants it as the why.
func boardModules(needs []NodeNeed) []Module {
	var out []Module
	seen := map[string]bool{}
	for _, n := range needs {
		if n.NoModule != "" {
			continue
		}
		for _, m := range n.Modules {
			if !seen[m] {
				seen[m] = true
				out = append(out, Module{Name: m, Why: fmt.Sprintf("%s %s (%s)", n.DTB, n.Node.Path, n.Node.Compatible[0])})
			}
		}
	}
	return out
}

// AllModules is what the image's initramfs carries: Modules and every
// module a shipped board's device tree asks for.
func AllModules(p bootpkg.Parts) ([]Module, error) {
	needs, err := BoardNeeds(p)
	if err != nil {
		return nil, err
	}
	return append(append([]Module{}, Modules...), boardModules(needs)...), nil
}

// Uncovered returns the nodes of the shipped device trees that mods
// (with their dependency closure) leave without a driver: no carried
// module and no built-in driver matches them, and withoutModule does not
// say why none is needed.
func Uncovered(p bootpkg.Parts, mods []Module) ([]NodeNeed, error) {
	set, err := selectModules(p.ModulesDir(), mods)
	if err != nil {
		return nil, err
	}
	carried := map[string]bool{}
	for _, f := range set.Files {
		carried[moduleBase(f)] = true
	}
	needs, err := BoardNeeds(p)
	if err != nil {
		return nil, err
	}
	var out []NodeNeed
	for _, n := range needs {
		ok := n.Builtin != "" || n.NoModule != ""
		for _, m := range n.Modules {
			ok = ok || carried[strings.ReplaceAll(m, "-", "_")]
		}
		if !ok {
			out = append(out, n)
		}
	}
	return out, nil
}
