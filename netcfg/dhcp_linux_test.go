package netcfg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// The DHCP tests: the Manager serving the laptop its address over the
// veth cable, and standing aside for another server on the link.

// dhcpEvents collects OnDHCP reports.
type dhcpEvents struct {
	mu sync.Mutex
	ch chan dhcpEvent
}

type dhcpEvent struct {
	serving bool
	why     string
}

func newDHCPEvents() *dhcpEvents { return &dhcpEvents{ch: make(chan dhcpEvent, 100)} }

func (e *dhcpEvents) report(serving bool, why string) { e.ch <- dhcpEvent{serving, why} }

// await returns the first report with serving == want.
func (e *dhcpEvents) await(t *testing.T, want bool) dhcpEvent {
	t.Helper()
	deadline := time.NewTimer(eventTimeout)
	defer deadline.Stop()
	for {
		select {
		case ev := <-e.ch:
			t.Logf("OnDHCP(%v, %q)", ev.serving, ev.why)
			if ev.serving == want {
				return ev
			}
		case <-deadline.C:
			t.Fatalf("no OnDHCP(%v, ...) within %s", want, eventTimeout)
		}
	}
}

// dhcpClient makes a DHCP client on ifname inside ns (the laptop).
func dhcpClient(t *testing.T, ns netns.NsHandle, ifname string, timeout time.Duration, retries int, opts ...nclient4.ClientOpt) *nclient4.Client {
	t.Helper()
	var c *nclient4.Client
	opts = append([]nclient4.ClientOpt{nclient4.WithTimeout(timeout), nclient4.WithRetry(retries)}, opts...)
	err := inNetns(&ns, func() error {
		var err error
		c, err = nclient4.New(ifname, opts...)
		return err
	})
	if err != nil {
		t.Fatalf("nclient4.New %s: %v", ifname, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// otherServer runs a DHCP server in the laptop's namespace, as a router
// on the same network would, offering 192.168.77.100 as 192.168.77.50.
func otherServer(t *testing.T, ns netns.NsHandle, ifname string) {
	t.Helper()
	h := handleAt(t, ns)
	l, err := h.LinkByName(ifname)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.AddrReplace(l, &netlink.Addr{IPNet: ipNet(netip.MustParsePrefix("192.168.77.50/24"))}); err != nil {
		t.Fatalf("AddrReplace %s: %v", ifname, err)
	}
	handler := func(conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) {
		if m.MessageType() != dhcpv4.MessageTypeDiscover {
			return
		}
		r, err := dhcpv4.NewReplyFromRequest(m,
			dhcpv4.WithMessageType(dhcpv4.MessageTypeOffer),
			dhcpv4.WithYourIP(net.ParseIP("192.168.77.100")),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("192.168.77.50"))))
		if err == nil {
			conn.WriteTo(r.ToBytes(), peer)
		}
	}
	var srv *server4.Server
	if err := inNetns(&ns, func() error {
		var err error
		srv, err = server4.NewServer(ifname, &net.UDPAddr{Port: dhcpv4.ServerPort}, handler)
		return err
	}); err != nil {
		t.Fatalf("other DHCP server: %v", err)
	}
	go srv.Serve()
	t.Cleanup(func() { srv.Close() })
}

// TestDHCPGivesLaptopReceiverAddress: on a direct cable with no other
// DHCP server, a laptop's DHCP client gets the receiver's address.
func TestDHCPGivesLaptopReceiverAddress(t *testing.T) {
	camera, laptop := newNS(t), newNS(t)
	cable(t, camera, laptop, "eth0", "lap0")
	ev := newDHCPEvents()
	startManager(t, &Manager{Address: camAddr, DHCP: DHCPAuto, Offer: lapAddr, Netns: &camera,
		ProbeTimeout: 400 * time.Millisecond, ProbeInterval: time.Second, OnDHCP: ev.report})
	ev.await(t, true)

	c := dhcpClient(t, laptop, "lap0", time.Second, 3)
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	lease, err := c.Request(ctx)
	if err != nil {
		t.Fatalf("laptop's DHCP request: %v", err)
	}
	ack := lease.ACK
	if got := ack.YourIPAddr.String(); got != lapAddr.String() {
		t.Errorf("laptop got %s, want %s", got, lapAddr)
	}
	if got := ack.ServerIdentifier().String(); got != camAddr.Addr().String() {
		t.Errorf("server id %s, want the camera's %s", got, camAddr.Addr())
	}
	if got := ack.IPAddressLeaseTime(0); got != DefaultLease {
		t.Errorf("lease %s, want %s", got, DefaultLease)
	}
	if len(ack.Router()) != 0 {
		t.Errorf("router option %v, want none", ack.Router())
	}
}

// TestDHCPSilencedByOtherServer: when a DHCP server already answers on
// the link, auto mode stays quiet.
func TestDHCPSilencedByOtherServer(t *testing.T) {
	camera, laptop := newNS(t), newNS(t)
	cable(t, camera, laptop, "eth0", "lap0")
	otherServer(t, laptop, "lap0")
	ev := newDHCPEvents()
	startManager(t, &Manager{Address: camAddr, DHCP: DHCPAuto, Offer: lapAddr, Netns: &camera,
		ProbeTimeout: 400 * time.Millisecond, ProbeInterval: 500 * time.Millisecond, OnDHCP: ev.report})
	got := ev.await(t, false)
	if !strings.Contains(got.why, "192.168.77.50") {
		t.Errorf("reason %q, want it to name the other server 192.168.77.50", got.why)
	}
	// The laptop's client hears only the camera's end of the cable (its
	// own namespace's server does not see its raw packets): no OFFER.
	c := dhcpClient(t, laptop, "lap0", 500*time.Millisecond, 2)
	if offer, err := c.DiscoverOffer(context.Background()); !errors.Is(err, nclient4.ErrNoResponse) {
		t.Errorf("laptop's DISCOVER with another server present: offer %v, err %v; want no response from the camera", offer, err)
	}
}

// TestDHCPStopsWhenOtherServerAppears: auto mode serves on a bare cable
// and stops once a DHCP server shows up on the link.
func TestDHCPStopsWhenOtherServerAppears(t *testing.T) {
	camera, laptop := newNS(t), newNS(t)
	cable(t, camera, laptop, "eth0", "lap0")
	ev := newDHCPEvents()
	startManager(t, &Manager{Address: camAddr, DHCP: DHCPAuto, Offer: lapAddr, Netns: &camera,
		ProbeTimeout: 400 * time.Millisecond, ProbeInterval: 300 * time.Millisecond, OnDHCP: ev.report})
	ev.await(t, true)
	otherServer(t, laptop, "lap0")
	got := ev.await(t, false)
	if !strings.Contains(got.why, "192.168.77.50") {
		t.Errorf("reason %q, want it to name the other server 192.168.77.50", got.why)
	}
}

// TestDHCPOnIgnoresOtherServer: dhcp_server=on serves regardless.
func TestDHCPOnIgnoresOtherServer(t *testing.T) {
	camera, laptop := newNS(t), newNS(t)
	cable(t, camera, laptop, "eth0", "lap0")
	otherServer(t, laptop, "lap0")
	ev := newDHCPEvents()
	startManager(t, &Manager{Address: camAddr, DHCP: DHCPOn, Offer: lapAddr, Netns: &camera, OnDHCP: ev.report})
	ev.await(t, true)
	c := dhcpClient(t, laptop, "lap0", time.Second, 3)
	offer, err := c.DiscoverOffer(context.Background())
	if err != nil {
		t.Fatalf("laptop's DISCOVER: %v", err)
	}
	if got := offer.ServerIdentifier().String(); got != "192.168.77.2" {
		t.Errorf("offer from %s, want the camera 192.168.77.2", got)
	}
}

// logWatch forwards a Manager's log lines to the test log and lets the
// test wait for one.
type logWatch chan string

func (w logWatch) logf(t *testing.T) func(string, ...any) {
	return func(format string, args ...any) {
		t.Logf(format, args...)
		select {
		case w <- fmt.Sprintf(format, args...):
		default:
		}
	}
}

func (w logWatch) await(t *testing.T, substr string) {
	t.Helper()
	deadline := time.NewTimer(eventTimeout)
	defer deadline.Stop()
	for {
		select {
		case l := <-w:
			if strings.Contains(l, substr) {
				return
			}
		case <-deadline.C:
			t.Fatalf("no log line containing %q within %s", substr, eventTimeout)
		}
	}
}

// TestDHCPOneLaptopAtATime: the address goes to one machine; another
// gets nothing while that lease lasts, until the cable is pulled (a
// laptop swap) and the binding is forgotten.
func TestDHCPOneLaptopAtATime(t *testing.T) {
	camera, laptop := newNS(t), newNS(t)
	cable(t, camera, laptop, "eth0", "lap0")
	logs := make(logWatch, 100)
	ev := newDHCPEvents()
	startManager(t, &Manager{Address: camAddr, DHCP: DHCPOn, Offer: lapAddr, Netns: &camera,
		OnDHCP: ev.report, Logf: logs.logf(t)})
	ev.await(t, true)

	first := dhcpClient(t, laptop, "lap0", time.Second, 3)
	if _, err := first.Request(context.Background()); err != nil {
		t.Fatalf("first laptop's DHCP request: %v", err)
	}
	secondMAC := net.HardwareAddr{0x02, 0xca, 0xfe, 0, 0, 2}
	second := dhcpClient(t, laptop, "lap0", 300*time.Millisecond, 2, nclient4.WithHWAddr(secondMAC))
	if offer, err := second.DiscoverOffer(context.Background()); !errors.Is(err, nclient4.ErrNoResponse) {
		t.Errorf("second machine while the first holds the lease: offer %v, err %v; want no response", offer, err)
	}

	// Pull the cable and plug it in again.
	hl := handleAt(t, laptop)
	lap, err := hl.LinkByName("lap0")
	if err != nil {
		t.Fatal(err)
	}
	if err := hl.LinkSetDown(lap); err != nil {
		t.Fatal(err)
	}
	logs.await(t, "eth0 lost its carrier")
	if err := hl.LinkSetUp(lap); err != nil {
		t.Fatal(err)
	}
	logs.await(t, "eth0 has a carrier")
	second = dhcpClient(t, laptop, "lap0", time.Second, 3, nclient4.WithHWAddr(secondMAC))
	lease, err := second.Request(context.Background())
	if err != nil {
		t.Fatalf("second machine after a cable swap: %v", err)
	}
	if got := lease.ACK.YourIPAddr.String(); got != lapAddr.String() {
		t.Errorf("second machine got %s, want %s", got, lapAddr)
	}
}
