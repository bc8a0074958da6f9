package qemu

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Board names.
const (
	Virt    = "virt"
	Raspi3b = "raspi3b"
)

// Config is one machine.
type Config struct {
	// Board is Virt or Raspi3b.
	Board string
	// Kernel is the arm64 Image, Initrd the initramfs.
	Kernel, Initrd string
	// DTB is the device tree (raspi3b needs the Pi's; virt makes its own).
	DTB string
	// Append is the kernel command line.
	Append string
	// Disk is a raw image: the SD card on raspi3b, a virtio disk on virt.
	// On raspi3b its size must be a power of two.
	Disk string
	// NetID is the -netdev id, for Monitor("set_link <id> off"); default "n0".
	NetID string
	// Memory in MiB; default 512 (virt). raspi3b is fixed at 1024.
	Memory int
	// Console, if set, gets a copy of every console line (test logs).
	Console io.Writer
	// Input connects the serial console's input, for Type.
	Input bool
	// Dir holds the monitor socket; default a new temporary directory.
	Dir string
	// Watchdog lets a raspi3b guest load bcm2835_wdt. By default Args
	// adds module_blacklist=bcm2835_wdt to the kernel command line:
	// QEMU 7.2's model of the Pi's power manager resets the machine the
	// moment the watchdog starts (any RSTC write with the reset bit)
	// instead of after its timeout, so camwire-init opening
	// /dev/watchdog would end the run. Without the module the guest has
	// no power-off either (bcm2835_wdt provides it): power-off halts
	// ("reboot: System halted") and the caller closes the machine.
	Watchdog bool
	// Icount, if set, is QEMU's -icount option (e.g. "shift=0"): the
	// guest's clock counts emulated instructions instead of following the
	// host's, so the CPU time a guest process is charged is the work it
	// did, not how often this machine's scheduler ran the emulator
	// (benchmarks on a loaded machine). TCG then runs one host thread.
	Icount string
	// OwnGroup runs the emulator in its own process group, so a Ctrl-C
	// typed in the terminal does not kill it: the caller shuts the guest
	// down cleanly instead (make demo). Tests leave it off, so a Ctrl-C
	// of go test also ends the emulator.
	OwnGroup bool
}

// NoWatchdog is the kernel argument Args adds on raspi3b; see
// Config.Watchdog.
const NoWatchdog = "module_blacklist=bcm2835_wdt"

// noROM ends every PCI -device: no option ROM. QEMU loads one per PCI
// NIC by default (efi-virtio.rom, Debian package ipxe-qemu, only a
// Recommends of qemu-system-arm) for network boot in firmware; the
// guest boots from -kernel and never runs it, and without the file
// QEMU refuses to start ("failed to find romfile"). USB devices have
// no ROM and no such property.
const noROM = ",romfile="

// Args returns the emulator's command line for c (without the monitor).
func Args(c Config) ([]string, error) {
	netID := c.NetID
	if netID == "" {
		netID = "n0"
	}
	appendArgs := c.Append
	if c.Board == Raspi3b && !c.Watchdog {
		appendArgs = strings.TrimSpace(appendArgs + " " + NoWatchdog)
	}
	args := []string{"-display", "none", "-no-reboot", "-kernel", c.Kernel, "-append", appendArgs}
	if c.Initrd != "" {
		args = append(args, "-initrd", c.Initrd)
	}
	if c.Icount != "" {
		args = append(args, "-icount", c.Icount)
	}
	switch c.Board {
	case Virt:
		mem := c.Memory
		if mem == 0 {
			mem = 512
		}
		args = append([]string{"-M", "virt", "-cpu", "cortex-a53", "-smp", "2", "-m", fmt.Sprint(mem)}, args...)
		args = append(args,
			"-netdev", "user,id="+netID, "-device", "virtio-net-pci,netdev="+netID+noROM,
			// A keyboard: the monitor's sendkey ctrl-alt-delete reaches
			// PID 1 as SIGINT (camwire-init turns the kernel's instant
			// reboot off), the clean shutdown a real Pi gets from its
			// USB keyboard.
			"-device", "virtio-keyboard-pci"+noROM)
		if c.Disk != "" {
			args = append(args, "-drive", "if=none,id=d0,format=raw,file="+c.Disk, "-device", "virtio-blk-pci,drive=d0"+noROM)
		}
	case Raspi3b:
		if c.DTB == "" {
			return nil, errors.New("qemu: raspi3b needs the Pi's device tree (DTB)")
		}
		args = append([]string{"-M", "raspi3b"}, args...)
		args = append(args, "-dtb", c.DTB,
			"-netdev", "user,id="+netID, "-device", "usb-net,netdev="+netID,
			"-device", "usb-kbd")
		if c.Disk != "" {
			fi, err := os.Stat(c.Disk)
			if err != nil {
				return nil, err
			}
			if s := fi.Size(); s&(s-1) != 0 {
				return nil, fmt.Errorf("qemu: SD card %s is %d bytes, QEMU needs a power of two", c.Disk, s)
			}
			args = append(args, "-drive", "if=sd,format=raw,file="+c.Disk)
		}
	default:
		return nil, fmt.Errorf("qemu: unknown board %q (want %s or %s)", c.Board, Virt, Raspi3b)
	}
	return args, nil
}
