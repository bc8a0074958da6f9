package pid1

import (
	"errors"
	"fmt"

	"github.com/camwire/camwire/config"
	"github.com/camwire/camwire/gadget"
	"github.com/u-root/u-root/pkg/kmodule"
	"golang.org/x/sys/unix"
)

// GadgetTTY is the gadget's serial console on the Pi (the ACM function).
const GadgetTTY = "/dev/ttyGS0"

// WantGadget decides usb_gadget: auto builds the gadget only on a board
// whose USB port is a device port (Board.GadgetPort); on builds it on
// any board with a USB device controller (QEMU's dummy_hcd in the
// tests); off never.
func WantGadget(mode config.GadgetMode, b Board) bool {
	switch mode {
	case config.GadgetOn:
		return true
	case config.GadgetOff:
		return false
	}
	return b.GadgetPort
}

// setupGadget is step 8: with usb_gadget, wait for the coldplug's first
// pass (the controller's driver), load the gadget's modules (by
// name: they have no device to be probed for), mount configfs, build
// the gadget (package gadget) and bind it to the first USB device
// controller, then log to its serial console too. Any failure is logged
// and the camera carries on with the other links.
func (in *Init) setupGadget() {
	if !WantGadget(in.cfg.USBGadget, in.board) {
		return
	}
	// The USB device controller's driver (dwc2) comes with the
	// coldplug; the gadget binds to the first UDC there is.
	in.waitDrivers()
	if err := in.buildGadget(); err != nil {
		in.logf("usb gadget: %v", err)
	}
}

func (in *Init) buildGadget() error {
	g, err := SetupGadget(in.cfg, config.ReadSerial(config.SerialFile), in.logf)
	if err != nil {
		return err
	}
	if in.cfg.Interface == "" && in.board.Name == "zero2w" {
		// No Ethernet: the network is NCM's interface (usb1 after
		// RNDIS's usb0; interface=auto would take usb0).
		if n, err := g.IfName("ncm"); err == nil {
			in.cfg.Interface = n
			in.logf("usb gadget: network on %s (NCM)", n)
		}
	}
	if c, ok := in.out.(*Consoles); ok && g.Functions.ACM {
		// The tty appears when the ACM function binds, which Build has
		// just done. A console no one reads is harmless: Consoles
		// drops lines for it instead of blocking.
		f, err := openConsole(GadgetTTY)
		if err != nil {
			return fmt.Errorf("serial console: %v", err)
		}
		c.mu.Lock()
		c.add(&console{path: GadgetTTY, f: f, w: f})
		c.mu.Unlock()
	}
	return nil
}

// SetupGadget is the gadget part of step 8, for PID 1 and for the
// real-kernel test's guest: load gadget.Modules by name, mount configfs,
// build the gadget with the board's serial and bind it to the first UDC.
func SetupGadget(cfg config.Config, serial string, logf func(string, ...any)) (*gadget.Gadget, error) {
	for _, err := range LoadModules(gadget.Modules, kmodule.ProbeOpts{}) {
		logf("%v", err)
	}
	// configfs registers with libcomposite's dependency: mount it now,
	// not with the base mounts.
	cfs := Mount{Source: "configfs", Target: gadget.DefaultConfigFS, FSType: "configfs",
		Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC}
	if err := unix.Mount(cfs.Source, cfs.Target, cfs.FSType, cfs.Flags, ""); err != nil && !errors.Is(err, unix.EBUSY) {
		return nil, fmt.Errorf("%v: %v", cfs, err)
	}
	g := &gadget.Gadget{
		Serial:    serial,
		Product:   "camwire " + cfg.Name,
		Functions: gadget.AllFunctions,
	}
	udc, err := g.Build()
	if err != nil {
		return nil, err
	}
	logf("usb gadget %s on %s (product id %#04x)", g.Functions, udc, gadget.ProductID(g.Functions))
	return g, nil
}
