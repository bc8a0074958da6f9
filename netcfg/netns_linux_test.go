package netcfg

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/camwire/camwire/internal/testkit"
)

// These tests use real netlink and real DHCP packets, in network
// namespaces made for each test and a veth pair standing in for the
// cable: "camera" is the Pi's side, "laptop" the other end. The host's
// own namespace is never touched: every call goes through a handle or
// socket made inside a test namespace.

var (
	camAddr = netip.MustParsePrefix("192.168.77.2/24")
	gateway = netip.MustParseAddr("192.168.77.254")
	lapAddr = netip.MustParseAddr("192.168.77.1")
)

// eventTimeout bounds every wait for an event; reaching it is a failure.
const eventTimeout = 15 * time.Second

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces (make test runs as root)")
	}
}

// newNS makes an empty network namespace, destroyed when the test ends.
func newNS(t *testing.T) netns.NsHandle { return testkit.NewNetns(t) }

func handleAt(t *testing.T, ns netns.NsHandle) *netlink.Handle {
	t.Helper()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatalf("NewHandleAt: %v", err)
	}
	t.Cleanup(h.Close)
	return h
}

// cable joins camera's camName to laptop's lapName with a veth pair and
// brings the laptop's end up, like a laptop whose NIC is on.
func cable(t *testing.T, camera, laptop netns.NsHandle, camName, lapName string) {
	t.Helper()
	hc, hl := handleAt(t, camera), handleAt(t, laptop)
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: camName}, PeerName: lapName, PeerNamespace: netlink.NsFd(int(laptop))}
	if err := hc.LinkAdd(veth); err != nil {
		t.Fatalf("LinkAdd veth %s/%s: %v", camName, lapName, err)
	}
	l, err := hl.LinkByName(lapName)
	if err != nil {
		t.Fatalf("LinkByName %s: %v", lapName, err)
	}
	if err := hl.LinkSetUp(l); err != nil {
		t.Fatalf("LinkSetUp %s: %v", lapName, err)
	}
}

// waitFor re-checks cond after every link, address and route event in
// ns until it holds; it fails the test after eventTimeout.
func waitFor(t *testing.T, ns netns.NsHandle, what string, cond func() (bool, string)) {
	t.Helper()
	done := make(chan struct{})
	defer close(done)
	links := make(chan netlink.LinkUpdate, 64)
	addrs := make(chan netlink.AddrUpdate, 64)
	routes := make(chan netlink.RouteUpdate, 64)
	if err := netlink.LinkSubscribeAt(ns, links, done); err != nil {
		t.Fatal(err)
	}
	if err := netlink.AddrSubscribeAt(ns, addrs, done); err != nil {
		t.Fatal(err)
	}
	if err := netlink.RouteSubscribeAt(ns, routes, done); err != nil {
		t.Fatal(err)
	}
	deadline := time.NewTimer(eventTimeout)
	defer deadline.Stop()
	for {
		ok, state := cond()
		if ok {
			return
		}
		select {
		case <-links:
		case <-addrs:
		case <-routes:
		case <-deadline.C:
			t.Fatalf("after %s still not %s; state: %s", eventTimeout, what, state)
		}
	}
}

// configured reports whether name in h is up with camAddr and a default
// route via gw (when gw is valid), and describes what it saw.
func configured(h *netlink.Handle, name string, gw netip.Addr) (bool, string) {
	l, err := h.LinkByName(name)
	if err != nil {
		return false, err.Error()
	}
	var b strings.Builder
	up := l.Attrs().Flags&net.FlagUp != 0
	b.WriteString(name)
	if up {
		b.WriteString(" up")
	} else {
		b.WriteString(" down")
	}
	hasAddr, hasRoute := false, !gw.IsValid()
	addrs, _ := h.AddrList(l, netlink.FAMILY_V4)
	for _, a := range addrs {
		b.WriteString(" addr " + a.IPNet.String())
		if p, ok := prefixOf(a.IPNet); ok && p == camAddr {
			hasAddr = true
		}
	}
	routes, _ := h.RouteList(l, netlink.FAMILY_V4)
	for _, r := range routes {
		if isDefault(r.Dst) {
			b.WriteString(" default via " + r.Gw.String())
			if r.Gw.Equal(net.IP(gw.AsSlice())) {
				hasRoute = true
			}
		}
	}
	return up && hasAddr && hasRoute, b.String()
}

// startManager runs m until the test ends and waits for Run to return.
func startManager(t *testing.T, m *Manager) {
	t.Helper()
	if m.Logf == nil {
		m.Logf = t.Logf
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func TestManagerKeepsLinkConfigured(t *testing.T) {
	camera, laptop := newNS(t), newNS(t)
	cable(t, camera, laptop, "eth0", "lap0")
	h := handleAt(t, camera)
	startManager(t, &Manager{Address: camAddr, Gateway: gateway, DHCP: DHCPOff, Netns: &camera})
	ok := func() (bool, string) { return configured(h, "eth0", gateway) }
	waitFor(t, camera, "configured", ok)

	link, err := h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func() error
	}{
		{"link taken down", func() error { return h.LinkSetDown(link) }},
		{"address removed", func() error {
			return h.AddrDel(link, &netlink.Addr{IPNet: ipNet(camAddr)})
		}},
		{"default route removed", func() error {
			return h.RouteDel(&netlink.Route{LinkIndex: link.Attrs().Index, Dst: &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}, Gw: net.IP(gateway.AsSlice())})
		}},
		{"carrier lost and back", func() error {
			hl := handleAt(t, laptop)
			lap, err := hl.LinkByName("lap0")
			if err != nil {
				return err
			}
			if err := hl.LinkSetDown(lap); err != nil {
				return err
			}
			waitFor(t, camera, "without carrier", func() (bool, string) {
				l, err := h.LinkByName("eth0")
				if err != nil {
					return false, err.Error()
				}
				return l.Attrs().OperState != netlink.OperUp, l.Attrs().OperState.String()
			})
			return hl.LinkSetUp(lap)
		}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if done, state := ok(); done && s.name != "carrier lost and back" {
			// The change must be visible before the Manager repairs it,
			// or this step proves nothing. netlink calls are synchronous,
			// so only a repair this fast could hide it: accept, but say.
			t.Logf("%s: already repaired when checked (%s)", s.name, state)
		}
		waitFor(t, camera, "configured again after "+s.name, ok)
	}
}

// TestManagerLateInterface: the Manager starts before any NIC exists, as
// on a Pi whose USB NIC enumerates seconds after init, and picks up the
// first wired link when it appears, skipping a bridge made earlier.
func TestManagerLateInterface(t *testing.T) {
	camera, laptop := newNS(t), newNS(t)
	h := handleAt(t, camera)
	virtual := "br0"
	if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: virtual}}); err != nil {
		t.Logf("no bridge to skip (LinkAdd br0: %v); checking the late link only", err)
		virtual = ""
	}
	logs := make(chan string, 100)
	startManager(t, &Manager{Address: camAddr, DHCP: DHCPOff, Netns: &camera, Logf: func(f string, a ...any) {
		t.Logf(f, a...)
		select {
		case logs <- f:
		default:
		}
	}})
	// Wait until the Manager has looked and found nothing, so the link
	// really appears late.
	deadline := time.NewTimer(eventTimeout)
	defer deadline.Stop()
	for waiting := false; !waiting; {
		select {
		case f := <-logs:
			waiting = strings.Contains(f, "waiting for a wired interface")
		case <-deadline.C:
			t.Fatal("the Manager never said it was waiting for a wired interface")
		}
	}
	cable(t, camera, laptop, "usb0", "lap0")
	waitFor(t, camera, "usb0 configured", func() (bool, string) { return configured(h, "usb0", netip.Addr{}) })

	if virtual != "" {
		d, err := h.LinkByName(virtual)
		if err != nil {
			t.Fatal(err)
		}
		if addrs, _ := h.AddrList(d, netlink.FAMILY_V4); len(addrs) != 0 {
			t.Errorf("%s got addresses %v; only the wired link should", virtual, addrs)
		}
	}

	// A second NIC appears, then the first is unplugged: the Manager
	// moves to the second without waiting for the resync tick (a minute
	// away, past waitFor's limit).
	cable(t, camera, laptop, "usb1", "lap1")
	usb0, err := h.LinkByName("usb0")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkDel(usb0); err != nil {
		t.Fatalf("LinkDel usb0: %v", err)
	}
	waitFor(t, camera, "usb1 configured", func() (bool, string) { return configured(h, "usb1", netip.Addr{}) })
}

// TestManagerBridgePort: interface= naming a port of a bridge (the USB
// gadget's usb0 in camwire0) is refused with a log line naming both,
// and the port gets no address; released from the bridge, it is
// configured. With no wired link, Fallback takes the bridge.
func TestManagerBridgePort(t *testing.T) {
	camera, laptop := newNS(t), newNS(t)
	h := handleAt(t, camera)
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "camwire0"}}
	if err := h.LinkAdd(br); err != nil {
		t.Skipf("this kernel makes no bridges: %v", err)
	}
	cable(t, camera, laptop, "usb0", "lap0")
	usb0, err := h.LinkByName("usb0")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetMaster(usb0, br); err != nil {
		t.Fatalf("LinkSetMaster: %v", err)
	}
	logs := make(chan string, 100)
	logf := func(f string, a ...any) {
		t.Logf(f, a...)
		select {
		case logs <- fmt.Sprintf(f, a...):
		default:
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- (&Manager{Interface: "usb0", Address: camAddr, DHCP: DHCPOff, Netns: &camera, Logf: logf}).Run(ctx)
	}()
	deadline := time.NewTimer(eventTimeout)
	defer deadline.Stop()
	for refused := false; !refused; {
		select {
		case l := <-logs:
			refused = strings.Contains(l, "usb0 is a port of camwire0")
		case <-deadline.C:
			t.Fatal("the Manager never refused the bridge port usb0")
		}
	}
	if addrs, _ := h.AddrList(usb0, netlink.FAMILY_V4); len(addrs) != 0 {
		t.Errorf("the bridge port usb0 got addresses %v", addrs)
	}
	if err := h.LinkSetNoMaster(usb0); err != nil {
		t.Fatalf("LinkSetNoMaster: %v", err)
	}
	waitFor(t, camera, "usb0 configured once released", func() (bool, string) { return configured(h, "usb0", netip.Addr{}) })
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Run: %v", err)
	}

	// interface=auto with the port back in the bridge: nothing is wired,
	// so Fallback takes the bridge.
	if err := h.AddrDel(usb0, &netlink.Addr{IPNet: ipNet(camAddr)}); err != nil {
		t.Fatalf("AddrDel: %v", err)
	}
	if err := h.LinkSetMaster(usb0, br); err != nil {
		t.Fatalf("LinkSetMaster: %v", err)
	}
	startManager(t, &Manager{Fallback: "camwire0", Address: camAddr, DHCP: DHCPOff, Netns: &camera})
	waitFor(t, camera, "camwire0 configured", func() (bool, string) { return configured(h, "camwire0", netip.Addr{}) })
}
