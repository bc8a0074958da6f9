// Package netcfg puts the Pi on the cable: it waits for the network
// interface, gives it the configured address, brings it up, adds the
// default route, and keeps all that true while cables are pulled and
// USB NICs come and go. On a direct cable it can also hand the laptop its
// address with a one-client DHCP server (dhcp_server=auto|on|off).
//
// The kernel work is in Manager (netlink, Linux only). What to do is
// decided by pure functions here, ChooseWired and Plan, which compare
// the desired state with the current one and are tested without root.
package netcfg

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"
)

// LinkInfo is what ChooseWired needs to know about one network link.
type LinkInfo struct {
	Index     int
	Name      string
	Type      string // netlink's Link.Type(): "device", "veth", "bridge", ...
	EncapType string // "ether", "loopback", "none", ...
	Enslaved  bool   // a port of a bridge or bond
}

// wiredTypes are link kinds that carry Ethernet to another machine:
// "device" is any real NIC (eth0 on a Pi, usb0 from cdc_ether or
// the USB gadget, lan78xx, smsc95xx, genet); "veth" is the container or test
// equivalent of a cable.
var wiredTypes = map[string]bool{"device": true, "veth": true}

// wirelessPrefixes are kernel names of radio NICs, which are "device"
// links too (the Pi 3's brcmfmac is wlan0) but no cable plugs into them.
var wirelessPrefixes = []string{"wl", "ww"}

// Wired reports whether l counts as wired for interface=auto: an
// Ethernet link (encapsulation ether) that is a real NIC or a veth, not
// a bridge, bond, VLAN, tunnel, dummy or loopback, not a port of another
// link, and not named like a wireless one (wl*, ww*).
func Wired(l LinkInfo) bool {
	if l.EncapType != "ether" || !wiredTypes[l.Type] || l.Enslaved {
		return false
	}
	for _, p := range wirelessPrefixes {
		if strings.HasPrefix(l.Name, p) {
			return false
		}
	}
	return true
}

// ChooseWired returns the first wired link: the one with the lowest
// index, i.e. the one the kernel registered first. A USB NIC that
// enumerates late still wins when it is the only one. With no wired
// link, the link named fallback ("" for none) is taken if it is there
// and is no port itself: the USB gadget's bridge, which Wired skips as a
// bridge while its ports are skipped as ports, so a board with the
// gadget and no Ethernet would otherwise have no network.
func ChooseWired(links []LinkInfo, fallback string) (LinkInfo, bool) {
	var c []LinkInfo
	for _, l := range links {
		if Wired(l) {
			c = append(c, l)
		}
	}
	if len(c) == 0 {
		for _, l := range links {
			if fallback != "" && l.Name == fallback && !l.Enslaved {
				return l, true
			}
		}
		return LinkInfo{}, false
	}
	sort.Slice(c, func(i, j int) bool { return c[i].Index < c[j].Index })
	return c[0], true
}

// PortError is why netcfg does not configure the link name, a port of
// the link master ("" when it is none, and then nil): the kernel hands
// a port's frames to its master, so an address and a DHCP server on the
// port would never see the laptop's packets. It names both, so the
// setting can be fixed.
func PortError(name, master string) error {
	if master == "" {
		return nil
	}
	return fmt.Errorf("%s is a port of %s: frames on it go to %s, so an address or DHCP server on %s gets none; not configuring it (set interface=%s)",
		name, master, master, name, master)
}

// Want is the state netcfg keeps on its link.
type Want struct {
	Address netip.Prefix // the Pi's address, e.g. 192.168.77.2/24
	Gateway netip.Addr   // default route's next hop; zero = no default route
}

// State is what the kernel has on the link now.
type State struct {
	Name    string
	Up      bool           // administratively up (IFF_UP)
	Addrs   []netip.Prefix // IPv4 addresses on the link
	Gateway netip.Addr     // next hop of the default route through the link; zero = none
}

// ActionKind is one netlink change.
type ActionKind int

// Actions, in the order Plan emits them: a gateway is only reachable
// once the link is up and has its address.
const (
	LinkUp ActionKind = iota
	AddrReplace
	RouteReplace
)

// Action is one change to make on the link.
type Action struct {
	Kind    ActionKind
	Link    string
	Addr    netip.Prefix // AddrReplace
	Gateway netip.Addr   // RouteReplace
}

// String renders an action like the netlink call it stands for, which is
// also how errors name it.
func (a Action) String() string {
	switch a.Kind {
	case LinkUp:
		return "LinkSetUp " + a.Link
	case AddrReplace:
		return fmt.Sprintf("AddrReplace %s %s", a.Link, a.Addr)
	case RouteReplace:
		return fmt.Sprintf("RouteReplace %s default via %s", a.Link, a.Gateway)
	}
	return fmt.Sprintf("action(%d) %s", a.Kind, a.Link)
}

// Plan returns the changes that turn cur into want, nothing when they
// agree: every call is idempotent, so Plan runs after every event.
// Addresses netcfg did not add are left alone.
func Plan(want Want, cur State) []Action {
	var acts []Action
	if !cur.Up {
		acts = append(acts, Action{Kind: LinkUp, Link: cur.Name})
	}
	has := false
	for _, a := range cur.Addrs {
		if a == want.Address {
			has = true
		}
	}
	if !has && want.Address.IsValid() {
		acts = append(acts, Action{Kind: AddrReplace, Link: cur.Name, Addr: want.Address})
	}
	if want.Gateway.IsValid() && cur.Gateway != want.Gateway {
		acts = append(acts, Action{Kind: RouteReplace, Link: cur.Name, Gateway: want.Gateway})
	}
	return acts
}

// Alternative is the k-th address (k = 1, 2 …) to try on prefix's subnet
// after the address was found in use. It is picked by a hash of the
// link's hardware address and k, so two cameras that collided on one
// address go different ways instead of colliding again, and it is never
// the subnet's network or broadcast address, the address that was taken,
// nor one of avoid (the receiver's address the DHCP server offers, the
// gateway).
func Alternative(prefix netip.Prefix, hw net.HardwareAddr, k int, avoid ...netip.Addr) netip.Prefix {
	base := prefix.Masked().Addr().As4()
	hosts := uint32(1)<<(32-prefix.Bits()) - 2 // without network and broadcast
	h := fnv.New32a()
	h.Write(hw)
	h.Write([]byte{byte(k >> 8), byte(k)})
	n := h.Sum32() % hosts
	start := binary.BigEndian.Uint32(base[:])
	for range hosts {
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], start+1+n)
		addr := netip.AddrFrom4(a)
		if addr != prefix.Addr() && !slices.Contains(avoid, addr) {
			return netip.PrefixFrom(addr, prefix.Bits())
		}
		n = (n + 1) % hosts
	}
	return prefix
}
