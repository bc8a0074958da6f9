package netcfg

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func TestNewLease(t *testing.T) {
	own := netip.MustParsePrefix("192.168.77.2/24")
	tests := []struct {
		offer string
		err   string // "" = ok
	}{
		{"192.168.77.1", ""},
		{"192.168.77.200", ""},
		{"192.168.78.1", "192.168.78.1 is not on 192.168.77.0/24"},
		{"192.168.77.2", "is the camera's own"},
		{"192.168.77.255", "network or broadcast"},
		{"192.168.77.0", "network or broadcast"},
		{"fd00::1", "not IPv4"},
	}
	for _, tt := range tests {
		_, err := newLease(own, netip.MustParseAddr(tt.offer), 0)
		if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("newLease(%s, %s) = %v, want error containing %q", own, tt.offer, err, tt.err)
		}
	}
}

func discover(t *testing.T, mac net.HardwareAddr) *dhcpv4.DHCPv4 {
	t.Helper()
	m, err := dhcpv4.NewDiscovery(mac)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func request(t *testing.T, mac net.HardwareAddr, ip, server string) *dhcpv4.DHCPv4 {
	t.Helper()
	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
		dhcpv4.WithHwAddr(mac),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP(ip))),
	}
	if server != "" {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP(server))))
	}
	m, err := dhcpv4.New(mods...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestLeaseOneClient walks the laptop through DISCOVER/REQUEST and checks
// that a second machine gets nothing until the first one's cable is
// pulled (forget) or its lease runs out.
func TestLeaseOneClient(t *testing.T) {
	l, err := newLease(netip.MustParsePrefix("192.168.77.2/24"), netip.MustParseAddr("192.168.77.1"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	laptop := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	other := net.HardwareAddr{2, 0, 0, 0, 0, 2}

	offer, _ := l.reply(discover(t, laptop))
	if offer == nil {
		t.Fatal("DISCOVER: no OFFER")
	}
	checkReply(t, "OFFER", offer, dhcpv4.MessageTypeOffer)

	ack, msg := l.reply(request(t, laptop, "192.168.77.1", "192.168.77.2"))
	checkReply(t, "ACK", ack, dhcpv4.MessageTypeAck)
	if !strings.Contains(msg, "gave 192.168.77.1 to 02:00:00:00:00:01") {
		t.Errorf("ACK log line = %q, want it to say who got the address", msg)
	}

	if r, _ := l.reply(discover(t, other)); r != nil {
		t.Errorf("second machine's DISCOVER while leased: got %s, want no answer", r.MessageType())
	}
	if r, _ := l.reply(request(t, other, "192.168.77.1", "")); r == nil || r.MessageType() != dhcpv4.MessageTypeNak {
		t.Errorf("second machine's REQUEST while leased: got %v, want NAK", r)
	}
	if r, _ := l.reply(request(t, laptop, "10.0.0.7", "")); r == nil || r.MessageType() != dhcpv4.MessageTypeNak {
		t.Errorf("REQUEST for an address from another network: got %v, want NAK so the laptop starts over", r)
	}
	if r, _ := l.reply(request(t, laptop, "192.168.77.1", "192.168.77.50")); r != nil {
		t.Errorf("REQUEST naming another server: got %s, want silence", r.MessageType())
	}

	now = now.Add(2 * time.Hour)
	if r, _ := l.reply(discover(t, other)); r == nil {
		t.Errorf("DISCOVER after the lease ran out: no OFFER")
	}
	now = now.Add(-2 * time.Hour)
	l.forget()
	if r, _ := l.reply(discover(t, other)); r == nil {
		t.Errorf("DISCOVER after forget (cable pulled): no OFFER")
	}
}

func checkReply(t *testing.T, what string, r *dhcpv4.DHCPv4, typ dhcpv4.MessageType) {
	t.Helper()
	if r == nil {
		t.Fatalf("%s: no reply", what)
	}
	if r.MessageType() != typ {
		t.Errorf("%s: type %s, want %s", what, r.MessageType(), typ)
	}
	if got := r.YourIPAddr.String(); got != "192.168.77.1" {
		t.Errorf("%s: yiaddr %s, want 192.168.77.1", what, got)
	}
	if got := r.ServerIdentifier().String(); got != "192.168.77.2" {
		t.Errorf("%s: server id %s, want 192.168.77.2", what, got)
	}
	if got := net.IP(r.SubnetMask()).String(); got != "255.255.255.0" {
		t.Errorf("%s: mask %s, want 255.255.255.0", what, got)
	}
	if got := r.IPAddressLeaseTime(0); got != time.Hour {
		t.Errorf("%s: lease %s, want 1h", what, got)
	}
	if rt := r.Router(); len(rt) != 0 {
		t.Errorf("%s: router option %v, want none (the laptop keeps its own default route)", what, rt)
	}
}
