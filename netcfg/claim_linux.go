package netcfg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
)

// maxConflicts bounds the addresses tried one after another; past it the
// last one is kept (a subnet that full is not the camera's to fix).
const maxConflicts = 8

// claim probes r.addr on link, moving to an Alternative after each
// conflict, and reports whether the address that r.addr ends up as was
// probed (and should be announced). A probe that cannot run at all (no
// packet socket) claims the address without one, and says so. Unless
// ProbeFirst, each address goes on the link as soon as its neighbours
// are asked (see Probe) and comes off again on a conflict.
func (m *Manager) claim(ctx context.Context, r *run, link netlink.Link) bool {
	name := link.Attrs().Name
	for {
		var ready func(map[netip.Addr]net.HardwareAddr)
		on := false
		if !m.ProbeFirst {
			ready = func(found map[netip.Addr]net.HardwareAddr) {
				on = m.putOn(r, link, found)
			}
		}
		err := probe(ctx, m.Netns, name, r.addr.Addr(), *m.Probe, m.neighbours(r.addr), ready)
		var c *Conflict
		switch {
		case ctx.Err() != nil:
			return false
		case errors.As(err, &c) && r.tries < maxConflicts:
			if on {
				if err := r.h.AddrDel(link, &netlink.Addr{IPNet: ipNet(r.addr)}); err != nil {
					m.logf("netcfg: AddrDel %s on %s: %v", r.addr, name, err)
				} else {
					m.logf("netcfg: took %s off %s", r.addr, name)
				}
			}
			m.moveOn(r, link, *c)
			continue
		case err != nil:
			how := fmt.Sprintf("without a probe (%v)", err)
			if c != nil {
				how = fmt.Sprintf("despite a conflict, after %d other addresses were taken too (%v)", r.tries, err)
			}
			m.logf("netcfg: claiming %s on %s %s", r.addr, name, how)
			r.claimed = true
			if m.OnClaim != nil {
				m.OnClaim(r.addr, name, how)
			}
			return false
		}
		r.claimed = true
		how := "after an ARP probe found no other host on it"
		if on {
			how = "at once; the ARP probe run meanwhile found no other host on it"
		}
		m.logf("netcfg: %s is free on %s (ARP probe)", r.addr.Addr(), name)
		if m.OnClaim != nil {
			m.OnClaim(r.addr, name, how)
		}
		return true
	}
}

// moveOn turns r.addr, which c showed another host has, into the next
// Alternative, and reports the conflict.
func (m *Manager) moveOn(r *run, link netlink.Link, c Conflict) {
	r.tries++
	avoid := []netip.Addr{r.addr.Addr()}
	if m.Offer.IsValid() {
		avoid = append(avoid, m.Offer)
	}
	if m.Gateway.IsValid() {
		avoid = append(avoid, m.Gateway)
	}
	next := Alternative(r.addr, link.Attrs().HardwareAddr, r.tries, avoid...)
	m.logf("netcfg: address conflict: %v; trying %s", &c, next)
	if m.OnConflict != nil {
		m.OnConflict(c, next)
	}
	r.addr = next
}

// neighbours are the hosts an optimistic claim of addr resolves first:
// the receiver (Offer) and the gateway, those on addr's subnet.
func (m *Manager) neighbours(addr netip.Prefix) []netip.Addr {
	var ns []netip.Addr
	for _, n := range []netip.Addr{m.Offer, m.Gateway} {
		if n.Is4() && addr.Masked().Contains(n) && n != addr.Addr() && !slices.Contains(ns, n) {
			ns = append(ns, n)
		}
	}
	return ns
}

// putOn is an optimistic claim's start: the neighbours found go into the
// kernel's table (STALE, as if learned from their traffic: the kernel
// confirms them on use), then r.addr and the gateway's route go on
// link. It reports whether the address is on.
func (m *Manager) putOn(r *run, link netlink.Link, found map[netip.Addr]net.HardwareAddr) bool {
	a := link.Attrs()
	for _, ip := range m.neighbours(r.addr) {
		if _, ok := found[ip]; !ok {
			m.logf("netcfg: %s did not answer within %v; the kernel will ask for it itself, naming %s", ip, resolveWait, r.addr.Addr())
		}
	}
	for ip, hw := range found {
		err := r.h.NeighSet(&netlink.Neigh{LinkIndex: a.Index, Family: netlink.FAMILY_V4,
			State: netlink.NUD_STALE, IP: net.IP(ip.AsSlice()), HardwareAddr: hw})
		if err != nil {
			m.logf("netcfg: NeighSet %s %s on %s: %v", ip, hw, a.Name, err)
		}
	}
	cur, err := m.state(r, link)
	if err != nil {
		m.logf("netcfg: %v", err)
		return false
	}
	if !m.apply(r, link, Want{Address: r.addr, Gateway: m.Gateway}, cur) {
		return false // logged; the address goes on after the probe, from reconcile
	}
	m.logf("netcfg: %s in use on %s while its ARP probe runs", r.addr, a.Name)
	return true
}
