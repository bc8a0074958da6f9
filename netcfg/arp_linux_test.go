package netcfg

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// fastProbe keeps RFC 5227's shape with short waits, so a test costs
// well under a second; what is checked is which packets come back, not
// how fast.
var fastProbe = Probe{Wait: 10e6, Min: 20e6, Max: 40e6, AnnounceWait: 200e6, Num: 3}

// laptopAt gives the laptop end of the cable addr, as a laptop or a
// first camera that already has it would.
func laptopAt(t *testing.T, h *netlink.Handle, name string, addr netip.Prefix) net.HardwareAddr {
	t.Helper()
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.AddrReplace(l, &netlink.Addr{IPNet: ipNet(addr)}); err != nil {
		t.Fatalf("AddrReplace %s %s: %v", name, addr, err)
	}
	return l.Attrs().HardwareAddr
}

// hasAddr reports whether name has addr, and what it has.
func hasAddr(h *netlink.Handle, name string, addr netip.Prefix) (bool, string) {
	l, err := h.LinkByName(name)
	if err != nil {
		return false, err.Error()
	}
	addrs, _ := h.AddrList(l, netlink.FAMILY_V4)
	var got []string
	ok := false
	for _, a := range addrs {
		got = append(got, a.IPNet.String())
		if p, _ := prefixOf(a.IPNet); p == addr {
			ok = true
		}
	}
	return ok, name + " has " + strings.Join(got, " ")
}

func hwAddr(t *testing.T, h *netlink.Handle, name string) net.HardwareAddr {
	t.Helper()
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return l.Attrs().HardwareAddr
}

// record is a log filled by a goroutine (packets, netlink events) that a
// test waits on: wait returns once cond holds for what has come in.
type record[T any] struct {
	mu     sync.Mutex
	items  []T
	notify chan struct{} // closed and replaced on every item
}

func newRecord[T any]() *record[T] { return &record[T]{notify: make(chan struct{})} }

func (r *record[T]) add(x T) {
	r.mu.Lock()
	r.items = append(r.items, x)
	close(r.notify)
	r.notify = make(chan struct{})
	r.mu.Unlock()
}

func (r *record[T]) wait(t *testing.T, what string, cond func([]T) bool) []T {
	t.Helper()
	deadline := time.NewTimer(eventTimeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		items, ch := slices.Clone(r.items), r.notify
		r.mu.Unlock()
		if cond(items) {
			return items
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("after %v still no %s; got %v", eventTimeout, what, items)
		}
	}
}

// arpSeen is one ARP packet seen on the laptop's end of the cable.
type arpSeen struct {
	Dst, Src net.HardwareAddr
	Op       arp.Operation
	Sender   netip.Addr
	Target   netip.Addr
}

func (a arpSeen) String() string {
	return fmt.Sprintf("%s>%s %v %s→%s", a.Src, a.Dst, a.Op, a.Sender, a.Target)
}

// captureARP records every ARP packet on name in ns, with a raw packet
// socket of its own, as tcpdump would; it stops when the test ends.
func captureARP(t *testing.T, ns netns.NsHandle, name string) *record[arpSeen] {
	t.Helper()
	ac, err := listenARP(&ns, name)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecord[arpSeen]()
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for {
			n, _, err := ac.c.ReadFrom(buf)
			if err != nil {
				return // closed at the end of the test
			}
			var f ethernet.Frame
			var p arp.Packet
			if f.UnmarshalBinary(buf[:n]) != nil || p.UnmarshalBinary(f.Payload) != nil {
				continue
			}
			rec.add(arpSeen{Dst: f.Destination, Src: f.Source, Op: p.Operation, Sender: p.SenderIP, Target: p.TargetIP})
		}
	}()
	t.Cleanup(func() { ac.Close(); <-done })
	return rec
}

// addrEvents records the addresses added (+) and removed (-) in ns.
func addrEvents(t *testing.T, ns netns.NsHandle) *record[string] {
	t.Helper()
	ch := make(chan netlink.AddrUpdate, 64)
	stop := make(chan struct{})
	if err := netlink.AddrSubscribeAt(ns, ch, stop); err != nil {
		t.Fatal(err)
	}
	rec := newRecord[string]()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for u := range ch {
			sign := "-"
			if u.NewAddr {
				sign = "+"
			}
			rec.add(sign + u.LinkAddress.String())
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return rec
}

func isProbe(from net.HardwareAddr, addr netip.Addr) func(arpSeen) bool {
	return func(a arpSeen) bool {
		return bytes.Equal(a.Src, from) && a.Op == arp.OperationRequest && a.Sender.IsUnspecified() && a.Target == addr
	}
}

func isAnnouncement(from net.HardwareAddr, addr netip.Addr) func(arpSeen) bool {
	return func(a arpSeen) bool { return bytes.Equal(a.Src, from) && a.Sender == addr && a.Target == addr }
}

// rewritesCaches is a packet that tells every host on the link that addr
// is at from: a broadcast naming addr as its sender (an announcement, or
// a request by the kernel). A reply to one asker, unicast, is not.
func rewritesCaches(from net.HardwareAddr, addr netip.Addr) func(arpSeen) bool {
	return func(a arpSeen) bool {
		return bytes.Equal(a.Src, from) && bytes.Equal(a.Dst, ethernet.Broadcast) && a.Sender == addr
	}
}

// listenIn is a TCP listener in ns at addr that accepts and closes, the
// receiver's stand-in.
func listenIn(t *testing.T, ns netns.NsHandle, addr netip.Addr) net.Addr {
	t.Helper()
	var ln net.Listener
	if err := inNetns(&ns, func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr()
}

func dialFrom(ns netns.NsHandle, addr net.Addr) error {
	return inNetns(&ns, func() error {
		c, err := net.DialTimeout("tcp", addr.String(), eventTimeout)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// TestProbeOptimisticClaim: the address goes on the link before the
// first probe leaves (so before the probes end), a connection to the
// receiver works before the probe has passed, and until the
// announcements nothing broadcast names the address (the receiver's
// link-layer address was asked for with a probe-style request).
func TestProbeOptimisticClaim(t *testing.T) {
	camera, laptop := newNS(t), newNS(t)
	cable(t, camera, laptop, "eth0", "lap0")
	lapMAC := laptopAt(t, handleAt(t, laptop), "lap0", netip.PrefixFrom(lapAddr, 24))
	recvAt := listenIn(t, laptop, lapAddr)
	seen := captureARP(t, laptop, "lap0")
	h, hcb := handleAt(t, camera), handleAt(t, camera)
	camMAC := hwAddr(t, h, "eth0")

	dialed := make(chan struct{})
	claimed := make(chan string, 1)
	p := fastProbe
	startManager(t, &Manager{Address: camAddr, DHCP: DHCPOff, Netns: &camera, Probe: &p, Offer: lapAddr,
		OnClaim: func(a netip.Prefix, link, how string) {
			on, state := hasAddr(hcb, "eth0", camAddr)
			<-dialed // the announcements wait: the dial is inside the probe's window
			claimed <- fmt.Sprintf("%s on %s %s; on the link at the claim: %v (%s)", a, link, how, on, state)
		},
		OnConflict: func(c Conflict, next netip.Prefix) { t.Errorf("conflict on a free address: %v", &c) }})

	seen.wait(t, "ARP probe for "+camAddr.Addr().String(), func(s []arpSeen) bool {
		return slices.ContainsFunc(s, isProbe(camMAC, camAddr.Addr()))
	})
	if on, state := hasAddr(h, "eth0", camAddr); !on {
		t.Errorf("the first ARP probe is out and the address is not on the link: %s", state)
	}
	err := dialFrom(camera, recvAt)
	close(dialed)
	if err != nil {
		t.Errorf("dial to the receiver while the probe runs: %v", err)
	}
	if got, want := <-claimed, "192.168.77.2/24 on eth0 at once; the ARP probe run meanwhile found no other host on it; on the link at the claim: true"; !strings.HasPrefix(got, want) {
		t.Errorf("OnClaim: %q, want it to start %q", got, want)
	}

	s := seen.wait(t, "announcement", func(s []arpSeen) bool {
		return slices.ContainsFunc(s, isAnnouncement(camMAC, camAddr.Addr()))
	})
	before := s[:slices.IndexFunc(s, isAnnouncement(camMAC, camAddr.Addr()))]
	probes := 0
	for _, a := range before {
		if isProbe(camMAC, camAddr.Addr())(a) {
			probes++
		}
		if rewritesCaches(camMAC, camAddr.Addr())(a) {
			t.Errorf("before its announcements the camera broadcast %v", a)
		}
	}
	if probes != p.Num {
		t.Errorf("%d probes before the announcement, want %d: %v", probes, p.Num, s)
	}
	neigh, err := h.NeighList(0, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(neigh, func(n netlink.Neigh) bool {
		return n.IP.Equal(net.IP(lapAddr.AsSlice())) && bytes.Equal(n.HardwareAddr, lapMAC)
	}) {
		t.Errorf("the camera's neighbours %v lack the receiver %s at %s", neigh, lapAddr, lapMAC)
	}
}

// TestProbeFirstWaits: with ProbeFirst the address is not on the link
// when the probe has passed (OnClaim), and goes on after it.
func TestProbeFirstWaits(t *testing.T) {
	camera, laptop := newNS(t), newNS(t)
	cable(t, camera, laptop, "eth0", "lap0")
	laptopAt(t, handleAt(t, laptop), "lap0", netip.PrefixFrom(lapAddr, 24))
	seen := captureARP(t, laptop, "lap0")
	h, hcb := handleAt(t, camera), handleAt(t, camera)
	camMAC := hwAddr(t, h, "eth0")
	claimed := make(chan string, 1)
	p := fastProbe
	startManager(t, &Manager{Address: camAddr, DHCP: DHCPOff, Netns: &camera, Probe: &p, Offer: lapAddr, ProbeFirst: true,
		OnClaim: func(a netip.Prefix, link, how string) {
			on, state := hasAddr(hcb, "eth0", camAddr)
			claimed <- fmt.Sprintf("%s on %s %s; on the link at the claim: %v (%s)", a, link, how, on, state)
		},
		OnConflict: func(c Conflict, next netip.Prefix) { t.Errorf("conflict on a free address: %v", &c) }})
	waitFor(t, camera, "claimed", func() (bool, string) { return hasAddr(h, "eth0", camAddr) })
	if got, want := <-claimed, "192.168.77.2/24 on eth0 after an ARP probe found no other host on it; on the link at the claim: false"; !strings.HasPrefix(got, want) {
		t.Errorf("OnClaim: %q, want it to start %q", got, want)
	}
	s := seen.wait(t, "announcement", func(s []arpSeen) bool {
		return slices.ContainsFunc(s, isAnnouncement(camMAC, camAddr.Addr()))
	})
	probes := 0
	for _, a := range s[:slices.IndexFunc(s, isAnnouncement(camMAC, camAddr.Addr()))] {
		if isProbe(camMAC, camAddr.Addr())(a) {
			probes++
		}
	}
	if probes != p.Num {
		t.Errorf("%d probes before the announcement, want %d: %v", probes, p.Num, s)
	}
}

// TestProbeConflictTakesAnotherAddress: the other end of the cable
// already has the camera's address (and the receiver's); the camera's
// probe hears its kernel answer and takes another address. Optimistic,
// the address was on the link and comes off; ProbeFirst, it never goes
// on. Either way no broadcast from the camera ever names it.
func TestProbeConflictTakesAnotherAddress(t *testing.T) {
	for _, probeFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("ProbeFirst=%v", probeFirst), func(t *testing.T) {
			camera, laptop := newNS(t), newNS(t)
			cable(t, camera, laptop, "eth0", "lap0")
			hl := handleAt(t, laptop)
			other := laptopAt(t, hl, "lap0", camAddr)
			laptopAt(t, hl, "lap0", netip.PrefixFrom(lapAddr, 24))
			seen := captureARP(t, laptop, "lap0")
			events := addrEvents(t, camera)
			h := handleAt(t, camera)
			camMAC := hwAddr(t, h, "eth0")
			conflicts := make(chan string, 8)
			var next netip.Prefix
			p := fastProbe
			startManager(t, &Manager{Address: camAddr, DHCP: DHCPOff, Netns: &camera, Probe: &p,
				Offer: lapAddr, ProbeFirst: probeFirst,
				OnConflict: func(c Conflict, n netip.Prefix) {
					next = n
					conflicts <- c.Error()
				}})
			var got string
			select {
			case got = <-conflicts:
			case <-time.After(eventTimeout):
				t.Fatalf("no conflict reported within %v", eventTimeout)
			}
			if want := "192.168.77.2 is in use: " + other.String() + " answered"; got != want {
				t.Errorf("conflict: %q, want %q", got, want)
			}
			if next == camAddr || next.Addr() == lapAddr || !next.Masked().Contains(camAddr.Addr()) || next.Bits() != 24 {
				t.Fatalf("alternative %v: want another host of %v, not the receiver's %v", next, camAddr.Masked(), lapAddr)
			}
			ev := events.wait(t, "+"+next.String(), func(e []string) bool { return slices.Contains(e, "+"+next.String()) })
			ev = ev[:slices.Index(ev, "+"+next.String())]
			want := []string{"+" + camAddr.String(), "-" + camAddr.String()}
			if probeFirst {
				want = nil
			}
			if !slices.Equal(ev, want) {
				t.Errorf("address events before %s came: %v, want %v", next, ev, want)
			}
			if ok, state := hasAddr(h, "eth0", camAddr); ok {
				t.Errorf("the conflicting address is on the link: %s", state)
			}
			s := seen.wait(t, "announcement of "+next.String(), func(s []arpSeen) bool {
				return slices.ContainsFunc(s, isAnnouncement(camMAC, next.Addr()))
			})
			for _, a := range s {
				if rewritesCaches(camMAC, camAddr.Addr())(a) {
					t.Errorf("the camera broadcast %v, naming the address another host has", a)
				}
			}
		})
	}
}

// TestDefendThenGiveUp: after the claim a host on the cable starts using
// the camera's address (RFC 5227 2.4). Its first announcement is
// answered with one of the camera's, and the address stays; its second,
// within DefendInterval, makes the camera take the address off and
// claim another with a probe, reporting the conflict.
func TestDefendThenGiveUp(t *testing.T) {
	camera, laptop := newNS(t), newNS(t)
	cable(t, camera, laptop, "eth0", "lap0")
	hl := handleAt(t, laptop)
	lapMAC := laptopAt(t, hl, "lap0", netip.PrefixFrom(lapAddr, 24))
	seen := captureARP(t, laptop, "lap0")
	events := addrEvents(t, camera)
	h := handleAt(t, camera)
	camMAC := hwAddr(t, h, "eth0")
	logs := newRecord[string]()
	conflicts := newRecord[string]()
	var next netip.Prefix // set before conflicts has the item
	p := fastProbe
	startManager(t, &Manager{Address: camAddr, DHCP: DHCPOff, Netns: &camera, Probe: &p, Offer: lapAddr,
		Logf: func(f string, a ...any) {
			t.Logf(f, a...)
			logs.add(fmt.Sprintf(f, a...))
		},
		OnConflict: func(c Conflict, n netip.Prefix) {
			next = n
			conflicts.add(c.Error())
		}})
	watching := "netcfg: watching eth0 for another host using " + camAddr.Addr().String()
	logs.wait(t, "the watch on the claimed address", func(l []string) bool {
		return slices.ContainsFunc(l, func(s string) bool { return strings.HasPrefix(s, watching) })
	})

	// The laptop announces the camera's address as its own.
	other, err := listenARP(&laptop, "lap0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	announcements := func(s []arpSeen) int {
		n := 0
		for _, a := range s {
			if isAnnouncement(camMAC, camAddr.Addr())(a) {
				n++
			}
		}
		return n
	}
	before := announcements(seen.wait(t, "the claim's two announcements", func(s []arpSeen) bool { return announcements(s) >= 2 }))
	// A probe for the address (sender 0.0.0.0) is not a host using it:
	// the camera's kernel answers it, and nothing is defended.
	if err := other.send(netip.IPv4Unspecified(), camAddr.Addr()); err != nil {
		t.Fatal(err)
	}
	seen.wait(t, "the camera's kernel's answer to the probe", func(s []arpSeen) bool {
		return slices.ContainsFunc(s, func(a arpSeen) bool {
			return bytes.Equal(a.Src, camMAC) && a.Op == arp.OperationReply && a.Sender == camAddr.Addr()
		})
	})
	if err := other.send(camAddr.Addr(), camAddr.Addr()); err != nil {
		t.Fatal(err)
	}
	if n := announcements(seen.wait(t, "the camera's defence", func(s []arpSeen) bool { return announcements(s) > before })); n != before+1 {
		t.Errorf("%d announcements after the probe and one announcement from another host, want %d: one defence", n, before+1)
	}
	want := "netcfg: 192.168.77.2 is in use: " + lapMAC.String() + " uses it too; defending 192.168.77.2 with an announcement (RFC 5227 2.4)"
	logs.wait(t, "the defence's log line", func(l []string) bool { return slices.Contains(l, want) })
	if ok, state := hasAddr(h, "eth0", camAddr); !ok {
		t.Errorf("after one defence the address is gone: %s", state)
	}
	// The defence's log line came after the probe was handled (one
	// reader, in order): no conflict can be on its way from the probe.
	if c := conflicts.wait(t, "the record", func([]string) bool { return true }); len(c) > 0 {
		t.Errorf("conflicts reported after a probe and one defence: %v", c)
	}

	// It goes on using it: the camera gives it up.
	if err := other.send(camAddr.Addr(), camAddr.Addr()); err != nil {
		t.Fatal(err)
	}
	c := conflicts.wait(t, "a conflict", func(c []string) bool { return len(c) > 0 })
	if diff := cmp.Diff([]string{"192.168.77.2 is in use: " + lapMAC.String() + " uses it too"}, c); diff != "" {
		t.Errorf("conflicts (-want +got):\n%s", diff)
	}
	if next == camAddr || next.Addr() == lapAddr || !next.Masked().Contains(camAddr.Addr()) {
		t.Fatalf("alternative %v: want another host of %v, not the receiver's %v", next, camAddr.Masked(), lapAddr)
	}
	ev := events.wait(t, "+"+next.String(), func(e []string) bool { return slices.Contains(e, "+"+next.String()) })
	if i := slices.Index(ev, "-"+camAddr.String()); i < 0 || i > slices.Index(ev, "+"+next.String()) {
		t.Errorf("address events %v: want -%s before +%s", ev, camAddr, next)
	}
	seen.wait(t, "the probe of "+next.Addr().String(), func(s []arpSeen) bool {
		return slices.ContainsFunc(s, isProbe(camMAC, next.Addr()))
	})
	logs.wait(t, "the watch on the new address", func(l []string) bool {
		return slices.Contains(l, "netcfg: watching eth0 for another host using "+next.Addr().String()+" (RFC 5227 2.4)")
	})
}
