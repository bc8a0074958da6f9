package pid1

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/u-root/u-root/pkg/kmodule"
)

// Board is what PID 1 knows about the hardware it runs on.
type Board struct {
	Name    string   // short name for logs: "pi3", "pi3+", "zero2w", "pi4", "qemu-virt"
	Modules []string // kernel modules to load, in order; dependencies come from modules.dep
	BootDev []string // block devices (names under /dev) that may hold the FAT boot partition
	// BootWait bounds the wait for BootDev; zero means Init's default
	// (20 s: an SD card enumerates well after its driver loads). A
	// virtio disk and its partitions are there as soon as virtio_blk
	// has loaded (its probe and partition scan run inside the module
	// load), so virt only looks once and a machine with no disk boots
	// at once.
	BootWait time.Duration
}

// Modules every board needs: the FAT boot partition (Debian builds vfat
// and its code pages as modules; iocharset default is ascii or utf8
// depending on the kernel, so both are loaded).
var commonModules = []string{"vfat", "nls_cp437", "nls_iso8859_1", "nls_ascii", "nls_utf8"}

// Modules every Raspberry Pi needs: SD card (sdhost is "bcm2835", the
// Pi 4's emmc2 and the Pi 3's SDIO are sdhci-iproc), the watchdog the
// main loop pets, USB (dwc2) and the legacy camera stack (vchiq →
// bcm2835-mmal-vchiq → bcm2835-v4l2, which gives H.264 on /dev/video0).
// cdc_ether is there for USB Ethernet adapters and QEMU's usb-net; a USB
// keyboard (usbhid) lets ctrl-alt-del shut down cleanly. leds-gpio makes
// the ACT LED (a gpio-leds node in the device tree; Debian builds the
// driver as a module) appear under /sys/class/leds. The list matches what
// package image puts in the initramfs.
var piModules = []string{
	"bcm2835", "sdhci-iproc", "bcm2835_wdt", "leds-gpio", "dwc2", "phy-generic",
	"vchiq", "bcm2835-mmal-vchiq", "bcm2835-v4l2",
	"usbnet", "cdc_ether", "usbhid", "hid-generic",
}

// BoardFor picks the module list from the device tree's model string
// (/proc/device-tree/model, e.g. "Raspberry Pi 3 Model B Plus Rev 1.3")
// or, when there is no model, its compatible list (QEMU's virt machine is
// "linux,dummy-virt"). An unknown board gets the Pi list: loading a module
// for absent hardware costs a few kilobytes, missing one costs the camera.
func BoardFor(model, compatible string) Board {
	pi := func(name string, nic ...string) Board {
		mods := append(append(append([]string{}, commonModules...), piModules...), nic...)
		return Board{Name: name, Modules: mods, BootDev: []string{"mmcblk0p1", "mmcblk1p1"}}
	}
	switch {
	case strings.Contains(model, "Raspberry Pi 3") && strings.Contains(model, "Plus"):
		return pi("pi3+", "lan78xx", "microchip")
	case strings.Contains(model, "Raspberry Pi 3"):
		return pi("pi3", "smsc95xx")
	case strings.Contains(model, "Raspberry Pi Zero 2"):
		// No Ethernet: the USB port becomes an Ethernet gadget the
		// laptop sees as a network card (needs dtoverlay=dwc2).
		return pi("zero2w", "usb_f_ecm", "g_ether")
	case strings.Contains(model, "Raspberry Pi 4"), strings.Contains(model, "Raspberry Pi 400"),
		strings.Contains(model, "Compute Module 4"):
		return pi("pi4", "mdio-bcm-unimac", "broadcom", "genet")
	case strings.Contains(compatible, "linux,dummy-virt"):
		mods := append(append([]string{}, commonModules...),
			"virtio_pci", "virtio_net", "virtio_blk", "virtio_input")
		return Board{Name: "qemu-virt", Modules: mods, BootDev: []string{"vda1", "mmcblk0p1"}, BootWait: time.Millisecond}
	}
	return pi("unknown", "smsc95xx", "lan78xx", "genet")
}

// ReadBoard reads the device tree under procDir (/proc) and returns the
// board with the model string for the log.
func ReadBoard(procDir string) (Board, string) {
	model, _ := os.ReadFile(filepath.Join(procDir, "device-tree/model"))
	compat, _ := os.ReadFile(filepath.Join(procDir, "device-tree/compatible"))
	m := string(bytes.TrimRight(model, "\x00\n"))
	// compatible is a NUL-separated list.
	c := strings.ReplaceAll(string(bytes.TrimRight(compat, "\x00")), "\x00", " ")
	return BoardFor(m, c), m
}

// LoadModules loads each module with its dependencies (modules.dep under
// /lib/modules/<release>, which the image builder writes with depmod).
// Every module is tried: one that is missing or fails is reported and the
// rest still load, because a camera module failing must not also take the
// network away. opts.RootDir, KVer and DryRunCB let tests load from a
// fake tree without a kernel.
func LoadModules(names []string, opts kmodule.ProbeOpts) []error {
	p, err := kmodule.NewProber(opts)
	if err != nil {
		return []error{fmt.Errorf("modules: %w", err)}
	}
	var errs []error
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if err := p.Probe(n, ""); err != nil {
			errs = append(errs, fmt.Errorf("module %s: %w", n, err))
		}
	}
	return errs
}
