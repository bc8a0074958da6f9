package netcfg

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
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

func TestProbeFreeAddressIsClaimed(t *testing.T) {
	camera, laptop := newNS(t), newNS(t)
	cable(t, camera, laptop, "eth0", "lap0")
	laptopAt(t, handleAt(t, laptop), "lap0", netip.MustParsePrefix("192.168.77.1/24"))
	claimed := make(chan string, 1)
	p := fastProbe
	startManager(t, &Manager{Address: camAddr, DHCP: DHCPOff, Netns: &camera, Probe: &p,
		OnClaim:    func(a netip.Prefix, link, how string) { claimed <- a.String() + " on " + link + " " + how },
		OnConflict: func(c Conflict, next netip.Prefix) { t.Errorf("conflict on a free address: %v", &c) }})
	h := handleAt(t, camera)
	waitFor(t, camera, "claimed", func() (bool, string) { return hasAddr(h, "eth0", camAddr) })
	if got, want := <-claimed, "192.168.77.2/24 on eth0 after an ARP probe found no other host on it"; got != want {
		t.Errorf("OnClaim: %q, want %q", got, want)
	}
}

// TestProbeConflictTakesAnotherAddress: the laptop end already has the
// camera's address; the camera's probe hears the laptop's kernel answer,
// so it never puts that address on its link and takes another.
func TestProbeConflictTakesAnotherAddress(t *testing.T) {
	camera, laptop := newNS(t), newNS(t)
	cable(t, camera, laptop, "eth0", "lap0")
	other := laptopAt(t, handleAt(t, laptop), "lap0", camAddr)
	conflicts := make(chan string, 8)
	var next netip.Prefix
	p := fastProbe
	startManager(t, &Manager{Address: camAddr, DHCP: DHCPOff, Netns: &camera, Probe: &p,
		Offer: lapAddr,
		OnConflict: func(c Conflict, n netip.Prefix) {
			next = n
			conflicts <- c.Error()
		}})
	h := handleAt(t, camera)
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
	waitFor(t, camera, "on the alternative", func() (bool, string) { return hasAddr(h, "eth0", next) })
	if ok, state := hasAddr(h, "eth0", camAddr); ok {
		t.Errorf("the conflicting address went on the link anyway: %s", state)
	}
}
