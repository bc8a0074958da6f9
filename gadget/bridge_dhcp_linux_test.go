package gadget

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/camwire/camwire/netcfg"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// TestBridgeDHCPNetns: whichever function a laptop's driver picked, it
// gets the receiver address from camwire's DHCP server and reaches the
// camera. The camera's namespace has the bridge (made by Bridge) with
// veth ports usb0 (RNDIS's place) and usb1 (NCM's); each port's peer is
// in a laptop namespace of its own, and netcfg's Manager runs on the
// bridge as pid1 runs it (ARP probe, DHCP server on). The laptop leases
// 192.168.77.1 with a real DHCP client (nclient4) and connects to a
// listener on the camera's address: once on the NCM side, once (with a
// fresh camera) on the RNDIS side. One laptop at a time: the server
// gives its one address to one MAC.
func TestBridgeDHCPNetns(t *testing.T) {
	for _, port := range []string{"usb1", "usb0"} {
		t.Run(port, func(t *testing.T) { bridgeDHCP(t, port) })
	}
}

// bridgeDHCP is one camera and one laptop, plugged into port.
func bridgeDHCP(t *testing.T, laptopPort string) {
	camera := testNetns(t)
	h, err := netlink.NewHandleAt(camera)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "probe0"}}); err != nil {
		t.Skipf("this kernel makes no bridges: %v", err)
	}
	laptops := map[string]netns.NsHandle{}
	for _, port := range []string{"usb0", "usb1"} {
		lap := testNetns(t)
		laptops[port] = lap
		if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: port}, PeerName: "lap0",
			PeerNamespace: netlink.NsFd(int(lap))}); err != nil {
			t.Fatalf("LinkAdd veth %s: %v", port, err)
		}
		// The laptop's end is up, as the USB host's is once it has
		// configured the gadget: the port has a carrier.
		hl, err := netlink.NewHandleAt(lap)
		if err != nil {
			t.Fatal(err)
		}
		l, err := hl.LinkByName("lap0")
		if err == nil {
			err = hl.LinkSetUp(l)
		}
		hl.Close()
		if err != nil {
			t.Fatalf("laptop on %s: lap0 up: %v", port, err)
		}
	}
	if err := Bridge(h, BridgeName, BridgeMAC("00000000deadbeef"), []string{"usb0", "usb1"}); err != nil {
		t.Fatal(err)
	}
	camAddr := netip.MustParsePrefix("192.168.77.2/24")
	offer := netip.MustParseAddr("192.168.77.1")
	m := &netcfg.Manager{Interface: BridgeName, Address: camAddr, DHCP: netcfg.DHCPOn, Offer: offer,
		Probe: &netcfg.DefaultProbe, Netns: &camera, Logf: t.Logf}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	errc := make(chan error, 1)
	go func() { errc <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Manager.Run: %v", err)
		}
	})
	// The camera's end of the test connections: accepted and closed.
	ln, err := listenIn(camera, h, "tcp", netip.AddrPortFrom(camAddr.Addr(), 10401))
	if err != nil {
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

	got, err := laptopLease(ctx, laptops[laptopPort], camAddr.Addr())
	if err != nil {
		t.Fatalf("laptop on %s: %v", laptopPort, err)
	}
	if got != netip.PrefixFrom(offer, camAddr.Bits()) {
		t.Errorf("laptop on %s leased %v, want %v/%d", laptopPort, got, offer, camAddr.Bits())
	}
}

// listenIn listens on addr in ns once the Manager has put the address
// on the bridge (after its ARP probe): it waits for the address event.
func listenIn(ns netns.NsHandle, h *netlink.Handle, network string, addr netip.AddrPort) (net.Listener, error) {
	updates := make(chan netlink.AddrUpdate, 16)
	done := make(chan struct{})
	defer close(done)
	if err := netlink.AddrSubscribeAt(ns, updates, done); err != nil {
		return nil, err
	}
	has := func() bool {
		l, err := h.LinkByName(BridgeName)
		if err != nil {
			return false
		}
		as, _ := h.AddrList(l, netlink.FAMILY_V4)
		for _, a := range as {
			if a.IP.Equal(addr.Addr().AsSlice()) {
				return true
			}
		}
		return false
	}
	timeout := time.After(30 * time.Second)
	for !has() {
		select {
		case <-updates:
		case <-timeout:
			return nil, fmt.Errorf("%s never got %s", BridgeName, addr.Addr())
		}
	}
	var ln net.Listener
	err := inNS(ns, func() error {
		var err error
		ln, err = net.Listen(network, addr.String())
		return err
	})
	return ln, err
}

// laptopLease brings the laptop's lap0 up in ns, leases an address from
// the camera's DHCP server, puts it on lap0 and dials the camera.
func laptopLease(ctx context.Context, ns netns.NsHandle, camera netip.Addr) (netip.Prefix, error) {
	var got netip.Prefix
	err := inNS(ns, func() error {
		for _, n := range []string{"lo", "lap0"} {
			l, err := netlink.LinkByName(n)
			if err != nil {
				return err
			}
			if err := netlink.LinkSetUp(l); err != nil {
				return err
			}
		}
		c, err := nclient4.New("lap0", nclient4.WithTimeout(2*time.Second), nclient4.WithRetry(10))
		if err != nil {
			return fmt.Errorf("nclient4.New: %w", err)
		}
		defer c.Close()
		lease, err := c.Request(ctx)
		if err != nil {
			return fmt.Errorf("DHCP: %w", err)
		}
		ip, ok := netip.AddrFromSlice(lease.ACK.YourIPAddr.To4())
		ones, _ := lease.ACK.SubnetMask().Size()
		if !ok {
			return fmt.Errorf("DHCP: lease without an IPv4 address: %v", lease.ACK)
		}
		got = netip.PrefixFrom(ip, ones)
		l, err := netlink.LinkByName("lap0")
		if err != nil {
			return err
		}
		if err := netlink.AddrReplace(l, &netlink.Addr{IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: lease.ACK.SubnetMask()}}); err != nil {
			return fmt.Errorf("AddrReplace: %w", err)
		}
		d := net.Dialer{Timeout: 10 * time.Second}
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(camera.String(), "10401"))
		if err != nil {
			return fmt.Errorf("dial the camera: %w", err)
		}
		return conn.Close()
	})
	return got, err
}

// inNS runs f on a thread in ns, for the calls that take the namespace
// from their thread (sockets, netlink's package functions). The thread
// is never switched back: it stays locked and Go retires it.
func inNS(ns netns.NsHandle, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("netns.Set: %w", err)
			return
		}
		errc <- f()
	}()
	return <-errc
}
