// Package qemu runs camwire's emulated boards: qemu-system-aarch64 as
// the QEMU "virt" machine (fast, virtio NIC and disk) or as "raspi3b" (a
// Raspberry Pi 3 B: the real device tree, SD card, USB). The serial
// console is read line by line so tests wait for markers instead of
// sleeping, and the human monitor on a unix socket injects faults
// (set_link) and a Ctrl-Alt-Del for a clean shutdown.
//
// Files: args.go turns a Config into QEMU's command line, machine.go
// runs the emulator and reads its console, monitor.go talks to the
// human monitor.
package qemu

import (
	"fmt"
	"os/exec"
)

// Binary is the emulator; Debian package qemu-system-arm.
const Binary = "qemu-system-aarch64"

// Available says why the emulator cannot run here, or nil.
func Available() error {
	if _, err := exec.LookPath(Binary); err != nil {
		return fmt.Errorf("%s not installed (Debian package qemu-system-arm)", Binary)
	}
	return nil
}
