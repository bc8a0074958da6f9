package pid1

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/camwire/camwire/camconsole"

	"github.com/camwire/camwire/config"
	"github.com/camwire/camwire/gadget"
	"github.com/camwire/camwire/netcfg"
	"github.com/vishvananda/netlink"
)

// Network is PID 1's default network step: loopback up (nothing else
// brings it up without an init system), then netcfg keeps the wired link
// at the configured address, with the DHCP server for a laptop on a
// direct cable, until ctx ends.
func Network(ctx context.Context, c config.Config, logf func(string, ...any)) error {
	// Beside the wired link, not before it: the first frame goes to the
	// receiver, never over lo, and bringing lo up took 70–120 ms under
	// QEMU's emulation, which the wired link's address used to wait for.
	go loopbackUp(logf)
	return network(ctx, c, logf, nil)
}

// network is Init's network step: Network without the loopback, which
// the modules step brought up (loopbackUp), with address claims and
// conflicts in the boot report and a conflict on the LED.
func (in *Init) network(ctx context.Context, c config.Config, logf func(string, ...any)) error {
	return network(ctx, c, logf, func(m *netcfg.Manager) {
		m.OnClaim = func(a netip.Prefix, link, how string) {
			in.facts.network(fmt.Sprintf("%s claimed on %s %s", a, link, how), "")
		}
		m.OnConflict = func(cf netcfg.Conflict, next netip.Prefix) {
			in.println(fmt.Sprintf(camconsole.ConflictPrefix+"%v; trying %s", &cf, next))
			in.facts.network(fmt.Sprintf("address conflict: %v; took %s instead", &cf, next), cf.Error())
			if in.led != nil {
				in.led.SetWarning(true) // the camera works, on another address than set
			}
		}
	})
}

func network(ctx context.Context, c config.Config, logf func(string, ...any), hook func(*netcfg.Manager)) error {
	m, note := managerFor(c)
	if note != "" {
		logf("network: %s", note)
	}
	m.Logf = func(f string, a ...any) { logf("network: "+f, a...) }
	if hook != nil {
		hook(m)
	}
	if err := m.Run(ctx); err != nil {
		return fmt.Errorf("netcfg: %w", err)
	}
	return nil
}

// managerFor maps the settings to netcfg: interface, address, gateway,
// dhcp_server, and the receiver's host as the address offered to the
// laptop. A receiver given by name cannot be offered: the DHCP server
// stays off and note says why.
func managerFor(c config.Config) (m *netcfg.Manager, note string) {
	m = &netcfg.Manager{
		Interface: c.Interface,
		// With the gadget built and no Ethernet (a board camwire does
		// not know, usb_gadget=on) auto takes the gadget's bridge.
		Fallback: gadget.BridgeName,
		Address:  c.Address,
		Gateway:  c.Gateway,
		DHCP:     netcfg.DHCPMode(c.DHCPServer),
		Probe:    &netcfg.DefaultProbe, // RFC 5227, run while the address is already in use
	}
	if a, ok := c.ReceiverAddr(); ok {
		m.Offer = a
	} else if m.DHCP != netcfg.DHCPOff {
		note = fmt.Sprintf("receiver %q is a name, not an address: no DHCP server", c.Receiver)
		m.DHCP = netcfg.DHCPOff
	}
	return m, note
}

// loopbackUp brings lo up: nothing else does without an init system.
// Nothing on the camera needs lo to send its first frame.
func loopbackUp(logf func(string, ...any)) {
	defer func() {
		// Its own goroutine: a panic here would end PID 1.
		if r := recover(); r != nil {
			logf("network: loopback: panic: %v", r)
		}
	}()
	if lo, err := netlink.LinkByName("lo"); err != nil {
		logf("network: loopback: LinkByName: %v", err)
	} else if err := netlink.LinkSetUp(lo); err != nil {
		logf("network: loopback: LinkSetUp: %v", err)
	}
}
