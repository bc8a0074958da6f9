package gadget

import (
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
)

// NetFunctions are the configfs names of the network functions in f, in
// link order.
func (f Functions) NetFunctions() []string {
	var n []string
	if f.RNDIS {
		n = append(n, "rndis")
	}
	if f.NCM {
		n = append(n, "ncm")
	}
	return n
}

// JoinBridge puts the Pi-side interfaces of the bound gadget's network
// functions into the bridge BridgeName (made if missing, with
// BridgeMAC), brings them up and returns the bridge's name, the link to
// give the camera's address. The bridge itself is left for netcfg to
// bring up, as it does with any link it manages. The bridge module must
// be loaded (Modules has it).
func (g *Gadget) JoinBridge(h *netlink.Handle) (string, error) {
	var members []string
	for _, fn := range g.Functions.NetFunctions() {
		n, err := g.IfName(fn)
		if err != nil {
			return "", err
		}
		members = append(members, n)
	}
	if len(members) == 0 {
		return "", fmt.Errorf("gadget: no network function to bridge")
	}
	return BridgeName, Bridge(h, BridgeName, BridgeMAC(g.Serial), members)
}

// Bridge makes the links named members up ports of the bridge name with
// address mac, making the bridge if it is not there (BridgePlan). When
// a step fails, what was done is undone (unbridge): no member is left a
// port of the bridge, and a bridge this call made is deleted.
func Bridge(h *netlink.Handle, name string, mac net.HardwareAddr, members []string) error {
	state := func(l netlink.Link) LinkState {
		a := l.Attrs()
		return LinkState{Name: a.Name, Type: l.Type(), Index: a.Index, Master: a.MasterIndex,
			Up: a.Flags&net.FlagUp != 0, MAC: a.HardwareAddr}
	}
	var br *LinkState
	bl, err := h.LinkByName(name)
	var nf netlink.LinkNotFoundError
	switch {
	case err == nil:
		s := state(bl)
		br = &s
	case !errors.As(err, &nf):
		return fmt.Errorf("gadget: bridge %s: LinkByName: %w", name, err)
	}
	ports := map[string]LinkState{}
	for _, m := range members {
		l, err := h.LinkByName(m)
		if err != nil {
			if errors.As(err, &nf) {
				continue // BridgePlan names it
			}
			return fmt.Errorf("gadget: bridge %s: LinkByName %s: %w", name, m, err)
		}
		ports[m] = state(l)
	}
	acts, err := BridgePlan(name, mac, br, members, ports)
	if err != nil {
		return err
	}
	made := false
	for _, a := range acts {
		if err := doBridge(h, name, mac, a); err != nil {
			err = fmt.Errorf("gadget: bridge %s: %w", name, err)
			if uerr := unbridge(h, name, members, made); uerr != nil {
				err = errors.Join(err, uerr)
			}
			return err
		}
		made = made || a.Kind == BridgeAdd
	}
	return nil
}

// unbridge undoes a Bridge that failed part-way: the members that are
// ports of the bridge now are released and, when this run made it, the
// bridge is deleted. The caller falls back to one member's own link
// (NCM's), which gets no frames while it is a port of a bridge.
func unbridge(h *netlink.Handle, name string, members []string, made bool) error {
	br, err := h.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("gadget: undo bridge %s: LinkByName: %w", name, err)
	}
	var errs []error
	for _, m := range members {
		l, err := h.LinkByName(m)
		if err != nil || l.Attrs().MasterIndex != br.Attrs().Index {
			continue
		}
		if err := h.LinkSetNoMaster(l); err != nil {
			errs = append(errs, fmt.Errorf("gadget: undo bridge %s: LinkSetNoMaster %s: %w", name, m, err))
		}
	}
	if made {
		if err := h.LinkDel(br); err != nil {
			errs = append(errs, fmt.Errorf("gadget: undo bridge %s: LinkDel: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

func doBridge(h *netlink.Handle, name string, mac net.HardwareAddr, a BridgeAction) error {
	switch a.Kind {
	case BridgeAdd:
		if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, HardwareAddr: mac}}); err != nil {
			return fmt.Errorf("LinkAdd: %w", err)
		}
		return nil
	case BridgeSetMAC:
		l, err := h.LinkByName(name)
		if err != nil {
			return fmt.Errorf("LinkByName: %w", err)
		}
		if err := h.LinkSetHardwareAddr(l, mac); err != nil {
			return fmt.Errorf("LinkSetHardwareAddr: %w", err)
		}
		return nil
	}
	l, err := h.LinkByName(a.Link)
	if err != nil {
		return fmt.Errorf("LinkByName %s: %w", a.Link, err)
	}
	switch a.Kind {
	case PortSetMaster:
		br, err := h.LinkByName(name)
		if err != nil {
			return fmt.Errorf("LinkByName: %w", err)
		}
		if err := h.LinkSetMaster(l, br); err != nil {
			return fmt.Errorf("LinkSetMaster %s: %w", a.Link, err)
		}
	case PortUp:
		if err := h.LinkSetUp(l); err != nil {
			return fmt.Errorf("LinkSetUp %s: %w", a.Link, err)
		}
	default:
		return fmt.Errorf("unknown action %d", a.Kind)
	}
	return nil
}
