package netcfg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Manager keeps one link configured. Set the fields, then call Run.
type Manager struct {
	// Interface is the link to configure; "" means the first wired
	// link (see Wired), waiting for one to appear.
	Interface string
	// Fallback is the link interface=auto takes when there is no wired
	// one (see ChooseWired): PID 1 names the USB gadget's bridge.
	Fallback string
	// Address is the Pi's address; Gateway the default route's next hop
	// (zero: no default route).
	Address netip.Prefix
	Gateway netip.Addr

	// DHCP says when to serve Offer to the laptop; "" means off.
	DHCP DHCPMode
	// Offer is the one address given away, the receiver's host. It must
	// be on Address's subnet.
	Offer netip.Addr
	// Lease is the lease time (DefaultLease when 0).
	Lease time.Duration
	// ProbeTimeout is how long DHCPAuto listens for another server's
	// OFFER (3 s when 0); ProbeInterval how often it asks again while
	// serving or while silenced (30 s when 0).
	ProbeTimeout, ProbeInterval time.Duration

	// Resync is how often the state is checked with no event (1 min
	// when 0), in case the kernel dropped events (ENOBUFS).
	Resync time.Duration

	// Netns is the network namespace to work in; nil means the caller's
	// (PID 1 has only one). Tests pass a throw-away namespace. Links,
	// event subscriptions and DHCP sockets all use it.
	Netns *netns.NsHandle

	// Probe, if set, checks with ARP that no other host has Address
	// (RFC 5227, see ProbeAddr); on a conflict the Manager takes an
	// Alternative address and probes that. nil claims Address at once.
	//
	// The claim is optimistic, like IPv6's Optimistic DAD (RFC 4429):
	// once the link has a carrier the address goes on at once and the
	// probe runs while it is in use, so the recorder connects and sends
	// its first frame without waiting the probe's 0.9–1.5 s. The camera's
	// link is a cable to one laptop or a small switch, and cameras
	// flashed from one image take distinct addresses from their serials,
	// so a conflict is rare; it is still found, by the same probes. Until
	// they pass the Manager sends no announcement (that would rewrite
	// other hosts' caches), and it first learns the receiver's (Offer)
	// and the gateway's link-layer addresses with probe-style requests
	// and gives them to the kernel, which then has no reason to
	// broadcast an ARP request from the address either. On a conflict
	// the address comes off the link, the next one is tried the same
	// way, and OnConflict reports it; a connection made meanwhile fails
	// and the sender dials again from the new address.
	Probe *Probe
	// ProbeFirst keeps the address off the link until its probe passed,
	// as RFC 5227 has it: for a link shared with hosts whose traffic
	// must not see a tentative address at all, at the cost of the probe's
	// time before the first frame. No camwire.txt key sets it: before its
	// probe passed an optimistic claim broadcasts nothing that names the
	// address (when the receiver answers), so the only ARP a shared link
	// sees from it then is replies to hosts that ask for the address.
	ProbeFirst bool
	// OnClaim, if set, is called when the address is on the link, with
	// how it was checked ("after an ARP probe …", "at once; the ARP probe
	// run meanwhile …", "without a probe: …"); with a probe, once it passed.
	OnClaim func(addr netip.Prefix, link, how string)
	// OnConflict, if set, is called when another host has addr; next is
	// the address tried instead.
	OnConflict func(c Conflict, next netip.Prefix)

	// Logf receives one line per change or problem; nil discards.
	Logf func(format string, args ...any)
	// OnDHCP, if set, is called whenever the DHCP server starts or
	// stops serving, with the reason (also logged).
	OnDHCP func(serving bool, reason string)
}

func (m *Manager) logf(format string, args ...any) {
	if m.Logf != nil {
		m.Logf(format, args...)
	}
}

// run holds what one Run call has learned.
type run struct {
	h       *netlink.Handle
	chosen  string // the link in use
	waiting bool   // "waiting for" was logged
	refused string // the bridge port last refused (PortError), logged once
	carrier bool

	addr    netip.Prefix // the address to keep: Address, or an alternative after conflicts
	claimed bool         // addr passed its probe (or needs none)
	probeOn string       // link addr was claimed on
	tries   int          // conflicts so far
	noCarr  bool         // "waiting for a carrier to probe" was logged

	def  *defence          // the running Defend of the claimed address
	lost chan defendResult // a Defend that ended on a conflict

	dhcp       *lease
	dhcpIf     string
	dhcpCancel context.CancelFunc
	dhcpDone   chan struct{}
	dhcpErr    string // last reason DHCP could not start, logged once
}

// Run configures the link and keeps it configured until ctx ends. It
// returns an error only when it cannot start watching (no netlink);
// everything later is logged and retried on the next event.
func (m *Manager) Run(ctx context.Context) error {
	// Only the route family: with no families the handle opens XFRM and
	// netfilter sockets too, and Debian's kernel has XFRM as a module
	// that is not loaded on the camera (EPROTONOSUPPORT).
	var h *netlink.Handle
	var err error
	if m.Netns != nil {
		h, err = netlink.NewHandleAt(*m.Netns, unix.NETLINK_ROUTE)
	} else {
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
	}
	if err != nil {
		return fmt.Errorf("netlink.NewHandle: %v", err)
	}
	defer h.Close()
	r := &run{h: h, addr: m.Address, claimed: m.Probe == nil, lost: make(chan defendResult)}
	defer r.stopDHCP()
	defer r.stopDefend()

	resync := m.Resync
	if resync <= 0 {
		resync = time.Minute
	}
	tick := time.NewTicker(resync)
	defer tick.Stop()

	sub, err := m.subscribe()
	if err != nil {
		return err
	}
	defer func() { sub.close() }()

	for {
		m.reconcile(ctx, r)
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-sub.links:
			if !ok {
				sub.links = nil
			}
		case _, ok := <-sub.addrs:
			if !ok {
				sub.addrs = nil
			}
		case _, ok := <-sub.routes:
			if !ok {
				sub.routes = nil
			}
		case res := <-r.lost:
			m.ended(r, res)
		case <-tick.C:
			if sub.links == nil || sub.addrs == nil || sub.routes == nil {
				m.logf("netcfg: netlink events stopped; subscribing again")
				sub.close()
				if s, err := m.subscribe(); err != nil {
					m.logf("netcfg: %v", err)
				} else {
					sub = s
				}
			}
		}
		sub.drain()
	}
}

// subscription is the three netlink event streams Run waits on.
type subscription struct {
	done   chan struct{}
	links  chan netlink.LinkUpdate
	addrs  chan netlink.AddrUpdate
	routes chan netlink.RouteUpdate
}

func (m *Manager) subscribe() (*subscription, error) {
	s := &subscription{
		done:   make(chan struct{}),
		links:  make(chan netlink.LinkUpdate, 64),
		addrs:  make(chan netlink.AddrUpdate, 64),
		routes: make(chan netlink.RouteUpdate, 64),
	}
	cb := func(err error) {
		select {
		case <-s.done: // closing the socket on the way out is no news
		default:
			m.logf("netcfg: netlink events: %v", err)
		}
	}
	if err := netlink.LinkSubscribeWithOptions(s.links, s.done, netlink.LinkSubscribeOptions{Namespace: m.Netns, ErrorCallback: cb}); err != nil {
		close(s.done)
		return nil, fmt.Errorf("LinkSubscribe: %v", err)
	}
	if err := netlink.AddrSubscribeWithOptions(s.addrs, s.done, netlink.AddrSubscribeOptions{Namespace: m.Netns, ErrorCallback: cb}); err != nil {
		close(s.done)
		return nil, fmt.Errorf("AddrSubscribe: %v", err)
	}
	if err := netlink.RouteSubscribeWithOptions(s.routes, s.done, netlink.RouteSubscribeOptions{Namespace: m.Netns, ErrorCallback: cb}); err != nil {
		close(s.done)
		return nil, fmt.Errorf("RouteSubscribe: %v", err)
	}
	return s, nil
}

func (s *subscription) close() {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
}

// drain takes the events already queued, so a burst (our own three
// changes, a flapping cable) costs one reconcile, not one each.
func (s *subscription) drain() {
	for {
		select {
		case _, ok := <-s.links:
			if !ok {
				s.links = nil
			}
		case _, ok := <-s.addrs:
			if !ok {
				s.addrs = nil
			}
		case _, ok := <-s.routes:
			if !ok {
				s.routes = nil
			}
		default:
			return
		}
	}
}

// reconcile makes the kernel match the Manager: choose the link, read
// its state, apply Plan, start or stop DHCP.
func (m *Manager) reconcile(ctx context.Context, r *run) {
	link := m.findLink(r)
	if link == nil {
		r.stopDHCP()
		r.stopDefend()
		return
	}
	a := link.Attrs()
	cur, err := m.state(r, link)
	if err != nil {
		m.logf("netcfg: %v", err)
		return
	}

	carrier := a.RawFlags&unix.IFF_LOWER_UP != 0
	want := Want{Address: r.addr, Gateway: m.Gateway}
	if r.probeOn != a.Name {
		// A new link (or the first): claim the address on it anew.
		r.claimed, r.probeOn = m.Probe == nil, a.Name
	}
	if !r.claimed && slices.Contains(cur.Addrs, r.addr) {
		r.claimed = true // already ours (a restart of the Manager)
	}
	probed := false
	if !r.claimed {
		if !cur.Up || !carrier {
			// ARP needs the link up and a carrier: bring it up and wait
			// for the carrier event before the address goes on (an
			// optimistic claim too: the neighbours are asked first).
			want = Want{}
			if cur.Up && !r.noCarr {
				m.logf("netcfg: %s has no carrier yet; the address is claimed with an ARP probe once it has", a.Name)
				r.noCarr = true
			}
		} else {
			probed = m.claim(ctx, r, link)
			want.Address = r.addr
			if cur, err = m.state(r, link); err != nil {
				m.logf("netcfg: %v", err)
				return
			}
		}
	}

	on := m.apply(r, link, want, cur)
	if probed {
		if err := Announce(m.Netns, a.Name, r.addr.Addr()); err != nil {
			m.logf("netcfg: %v", err)
		}
	}
	// Once probed and on the link, the address is watched for another
	// host that starts using it (RFC 5227 2.4), through carrier losses
	// too: the cable pulled and put back is the same link.
	if on && r.claimed && m.Probe != nil {
		m.defend(ctx, r, link, r.addr.Addr())
	} else {
		r.stopDefend()
	}

	if r.carrier && !carrier {
		m.logf("netcfg: %s lost its carrier", a.Name)
		if r.dhcp != nil {
			r.dhcp.forget()
		}
	} else if !r.carrier && carrier {
		m.logf("netcfg: %s has a carrier", a.Name)
	}
	r.carrier = carrier

	m.startDHCP(ctx, r, a.Name)
}

// state reads link's addresses and default route; Up comes from link
// as the caller read it.
func (m *Manager) state(r *run, link netlink.Link) (State, error) {
	a := link.Attrs()
	cur := State{Name: a.Name, Up: a.Flags&net.FlagUp != 0}
	addrs, err := r.h.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return cur, fmt.Errorf("AddrList %s: %v", a.Name, err)
	}
	for _, ad := range addrs {
		if p, ok := prefixOf(ad.IPNet); ok {
			cur.Addrs = append(cur.Addrs, p)
		}
	}
	routes, err := r.h.RouteListFiltered(netlink.FAMILY_V4,
		&netlink.Route{LinkIndex: a.Index, Table: unix.RT_TABLE_MAIN},
		netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
	if err != nil {
		return cur, fmt.Errorf("RouteList %s: %v", a.Name, err)
	}
	for _, rt := range routes {
		if isDefault(rt.Dst) && rt.Gw != nil {
			if gw, ok := netip.AddrFromSlice(rt.Gw.To4()); ok {
				cur.Gateway = gw
			}
		}
	}
	return cur, nil
}

// apply carries out Plan(want, cur) on link, logging each action. It
// reports whether want's address is on the link now.
func (m *Manager) apply(r *run, link netlink.Link, want Want, cur State) bool {
	on := slices.Contains(cur.Addrs, want.Address)
	for _, act := range Plan(want, cur) {
		if err := m.do(r.h, link, act); err != nil {
			m.logf("netcfg: %s: %v", act, err)
			continue
		}
		m.logf("netcfg: %s", act)
		on = on || act.Kind == AddrReplace
	}
	return on
}

// findLink returns the link to configure, or nil while there is none.
func (m *Manager) findLink(r *run) netlink.Link {
	name := m.Interface
	if name == "" {
		name = r.chosen
	}
	if name == "" {
		links, err := r.h.LinkList()
		if err != nil {
			m.logf("netcfg: LinkList: %v", err)
			return nil
		}
		infos := make([]LinkInfo, 0, len(links))
		for _, l := range links {
			a := l.Attrs()
			infos = append(infos, LinkInfo{Index: a.Index, Name: a.Name, Type: l.Type(),
				EncapType: a.EncapType, Enslaved: a.MasterIndex != 0})
		}
		c, ok := ChooseWired(infos, m.Fallback)
		if !ok {
			if !r.waiting {
				m.logf("netcfg: waiting for a wired interface")
				r.waiting = true
			}
			return nil
		}
		name = c.Name
		if Wired(c) {
			m.logf("netcfg: using %s, the first wired interface", name)
		} else {
			m.logf("netcfg: using %s: no wired interface", name)
		}
	}
	link, err := r.h.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		notFound := errors.As(err, &nf)
		gone := r.chosen != ""
		if gone {
			m.logf("netcfg: %s is gone", r.chosen)
		}
		r.chosen, r.carrier = "", false
		switch {
		case !notFound:
			m.logf("netcfg: LinkByName %s: %v", name, err)
		case gone && m.Interface == "":
			return m.findLink(r) // another wired link may be there already
		case !r.waiting:
			m.logf("netcfg: waiting for %s", name)
			r.waiting = true
		}
		return nil
	}
	if mi := link.Attrs().MasterIndex; mi != 0 {
		master := fmt.Sprintf("link %d", mi)
		if ml, err := r.h.LinkByIndex(mi); err == nil {
			master = ml.Attrs().Name
		}
		if r.refused != name {
			m.logf("netcfg: %v", PortError(name, master))
			r.refused = name
		}
		r.chosen, r.carrier = "", false
		return nil
	}
	r.chosen, r.waiting, r.refused = name, false, ""
	return link
}

// do carries out one action; errors are tagged by the caller.
func (m *Manager) do(h *netlink.Handle, link netlink.Link, a Action) error {
	switch a.Kind {
	case LinkUp:
		return h.LinkSetUp(link)
	case AddrReplace:
		return h.AddrReplace(link, &netlink.Addr{IPNet: ipNet(a.Addr)})
	case RouteReplace:
		return h.RouteReplace(&netlink.Route{
			LinkIndex: link.Attrs().Index,
			Dst:       &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
			Gw:        net.IP(a.Gateway.AsSlice()),
		})
	}
	return fmt.Errorf("unknown action %d", a.Kind)
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP.To4())
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a, ones), true
}

func isDefault(dst *net.IPNet) bool {
	if dst == nil {
		return true
	}
	ones, _ := dst.Mask.Size()
	return ones == 0 && dst.IP.IsUnspecified()
}

// inNetns runs f with the calling thread in ns, for the calls that take
// their namespace from the thread: socket creation and interface lookup.
// f runs on a goroutine of its own, locked to its thread; if the thread
// cannot be switched back it is left locked, so Go discards it instead
// of reusing a thread in the wrong namespace.
func inNetns(ns *netns.NsHandle, f func() error) error {
	if ns == nil {
		return f()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns.Get: %v", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(*ns); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns.Set: %v", err)
			return
		}
		ferr := f()
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}
