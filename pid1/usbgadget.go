package pid1

import (
	"errors"
	"fmt"

	"github.com/camwire/camwire/config"
	"github.com/camwire/camwire/gadget"
	"github.com/u-root/u-root/pkg/kmodule"
	"github.com/vishvananda/netlink"
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
// the gadget (package gadget), bind it to the first USB device
// controller and bridge its network interfaces (camwire0, the Zero 2 W's
// network), then log to its serial console too. Any failure is logged
// and the camera carries on with the other links.
func (in *Init) setupGadget() {
	if !WantGadget(in.cfg.USBGadget, in.board) {
		return
	}
	// The USB device controller's driver (dwc2) comes with the
	// coldplug; the gadget binds to the first UDC there is.
	in.waitDrivers("usb-gadget") // bounded; a UDC that came meanwhile still works
	if err := in.buildGadget(); err != nil {
		in.logf("usb gadget: %v", err)
	}
}

func (in *Init) buildGadget() error {
	g, link, err := SetupGadget(in.cfg, config.ReadSerial(config.SerialFile), in.logf)
	if err != nil {
		return err
	}
	if in.cfg.Interface == "" && in.board.Name == "zero2w" && link != "" {
		// No Ethernet: the network is the gadget's bridge, so the
		// address and the DHCP server serve RNDIS and NCM alike
		// (interface=auto would take RNDIS's usb0 alone).
		in.cfg.Interface = link
		in.logf("usb gadget: network on %s", link)
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
// build the gadget with the board's serial, bind it to the first UDC and
// join its network interfaces in one bridge (gadget.JoinBridge). link is
// the interface for the camera's address: the bridge, or NCM's own
// interface if the bridge could not be made (logged), "" if neither.
func SetupGadget(cfg config.Config, serial string, logf func(string, ...any)) (g *gadget.Gadget, link string, err error) {
	for _, err := range LoadModules(gadget.Modules, kmodule.ProbeOpts{}) {
		logf("%v", err)
	}
	// configfs registers with libcomposite's dependency: mount it now,
	// not with the base mounts.
	cfs := Mount{Source: "configfs", Target: gadget.DefaultConfigFS, FSType: "configfs",
		Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC}
	if err := unix.Mount(cfs.Source, cfs.Target, cfs.FSType, cfs.Flags, ""); err != nil && !errors.Is(err, unix.EBUSY) {
		return nil, "", fmt.Errorf("%v: %v", cfs, err)
	}
	g = &gadget.Gadget{
		Serial:    serial,
		Product:   "camwire " + cfg.Name,
		Functions: gadget.AllFunctions,
	}
	udc, err := g.Build()
	if err != nil {
		return nil, "", err
	}
	logf("usb gadget %s on %s (product id %#04x)", g.Functions, udc, gadget.ProductID(g.Functions))
	// A route-only handle: NewHandle with no family opens xfrm too,
	// and xfrm_user is not in the initramfs (EPROTONOSUPPORT).
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err == nil {
		defer h.Close()
		link, err = g.JoinBridge(h)
	}
	if err != nil {
		logf("usb gadget: bridge: %v", err)
		link, _ = g.IfName("ncm")
		return g, link, nil
	}
	logf("usb gadget: bridge %s (%s)", link, gadget.BridgeMAC(serial))
	return g, link, nil
}
