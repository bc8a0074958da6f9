package pid1

import (
	"errors"
	"fmt"
	"slices"

	"github.com/camwire/camwire/bootreport"
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
	for _, d := range g.Dropped {
		msg := fmt.Sprintf("usb-gadget: %v", d)
		in.facts.update(func(b *bootreport.Init) { b.Faults = append(b.Faults, msg) })
	}
	if iface, note := GadgetInterface(in.cfg.Interface, in.board.Name, link, gadgetPorts(g)); note != "" {
		in.cfg.Interface = iface
		in.logf("usb gadget: %s", note)
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

// GadgetInterface is the interface setting once the gadget is up on
// link (the bridge, NCM's own link, "" for none) with the network ports
// ports; note says what changed and why, "" when nothing did.
//
//   - On the Zero 2 W with interface=auto: link. It has no Ethernet, so
//     the network is the gadget's, and on the bridge the address and the
//     DHCP server serve RNDIS and NCM alike. (Other boards with auto get
//     the bridge from netcfg's Fallback when no wired link is there.)
//   - interface= naming a port of the bridge (usb0, usb1, as the
//     README's One cable section names them): the bridge. A port hands
//     its frames to the bridge, so the camera's address there would get
//     no packets and the laptop no lease.
func GadgetInterface(iface, board, link string, ports []string) (string, string) {
	switch {
	case link == "":
		return iface, ""
	case iface == "" && board == "zero2w":
		return link, "network on " + link
	case iface != "" && link == gadget.BridgeName && slices.Contains(ports, iface):
		return link, fmt.Sprintf("interface=%s is a port of the bridge %s, which carries both network functions: using %s", iface, link, link)
	}
	return iface, ""
}

// gadgetPorts are the names a bridge port of g can have: its network
// functions' interfaces, and usb0 and usb1, as the README names them.
func gadgetPorts(g *gadget.Gadget) []string {
	ports := []string{"usb0", "usb1"}
	for _, fn := range g.Functions.NetFunctions() {
		if n, err := g.IfName(fn); err == nil && !slices.Contains(ports, n) {
			ports = append(ports, n)
		}
	}
	return ports
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
	for _, d := range g.Dropped {
		logf("usb gadget: %v", d)
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
		// Bridge undid what it had done, so the function's own link
		// is a port of nothing. NCM's when it is there (most hosts
		// bind it), else RNDIS's.
		link = ""
		if fns := g.Functions.NetFunctions(); len(fns) > 0 {
			link, _ = g.IfName(fns[len(fns)-1])
		}
		return g, link, nil
	}
	logf("usb gadget: bridge %s (%s)", link, gadget.BridgeMAC(serial))
	return g, link, nil
}
