package netcfg

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// DHCPMode is when the Pi serves DHCP on its link.
type DHCPMode string

// DHCP modes, spelled as in camwire.txt's dhcp_server key.
const (
	// DHCPAuto serves only while no other DHCP server answers: on a
	// direct cable the laptop gets its address with no setup, on an
	// office network the Pi stays quiet.
	DHCPAuto DHCPMode = "auto"
	DHCPOn   DHCPMode = "on"
	DHCPOff  DHCPMode = "off"
)

// DefaultLease is short so a laptop moved to another network soon
// forgets the camera's subnet.
const DefaultLease = time.Hour

// lease is the one address the Pi gives away and who has it. It answers
// DHCP messages; sockets live elsewhere so this is tested without root.
type lease struct {
	server net.IP // the Pi's own address: the server identifier
	offer  net.IP // the address for the laptop
	mask   net.IPMask
	time   time.Duration
	now    func() time.Time

	mu      sync.Mutex
	client  net.HardwareAddr // who holds offer; nil = nobody
	expires time.Time
}

// newLease checks that own and offer make sense together: offer must be
// another host on own's subnet, or the laptop could not reach the Pi
// without a route.
func newLease(own netip.Prefix, offer netip.Addr, d time.Duration) (*lease, error) {
	switch {
	case !offer.IsValid():
		return nil, fmt.Errorf("the receiver is not given as an IPv4 address")
	case !offer.Is4():
		return nil, fmt.Errorf("receiver address %v is not IPv4", offer)
	case !own.Masked().Contains(offer):
		return nil, fmt.Errorf("receiver address %v is not on %v", offer, own.Masked())
	case offer == own.Addr():
		return nil, fmt.Errorf("receiver address %v is the camera's own", offer)
	case offer == own.Masked().Addr() || offer == lastAddr(own):
		return nil, fmt.Errorf("receiver address %v is the network or broadcast address of %v", offer, own.Masked())
	}
	if d <= 0 {
		d = DefaultLease
	}
	return &lease{
		server: net.IP(own.Addr().AsSlice()),
		offer:  net.IP(offer.AsSlice()),
		mask:   net.CIDRMask(own.Bits(), 32),
		time:   d,
		now:    time.Now,
	}, nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// forget drops the binding: the cable was pulled, and the next laptop
// plugged in is likely another one that should not wait an hour.
func (l *lease) forget() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.client = nil
}

// free reports whether mac may have the address: nobody holds it, mac
// does, or the holder's lease ran out. Caller holds mu.
func (l *lease) free(mac net.HardwareAddr) bool {
	return l.client == nil || bytes.Equal(l.client, mac) || l.now().After(l.expires)
}

// reply returns the answer to m, or nil for none, and a line for the log
// ("" when there is nothing worth saying).
func (l *lease) reply(m *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, string) {
	if m.OpCode != dhcpv4.OpcodeBootRequest {
		return nil, ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	mac := m.ClientHWAddr
	switch m.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		if !l.free(mac) {
			return nil, fmt.Sprintf("dhcp: %s asked, but %s holds %s; not offering", mac, l.client, l.offer)
		}
		return l.answer(m, dhcpv4.MessageTypeOffer), ""
	case dhcpv4.MessageTypeRequest:
		if sid := m.ServerIdentifier(); sid != nil && !sid.Equal(l.server) {
			return nil, fmt.Sprintf("dhcp: %s chose the server %s", mac, sid)
		}
		want := m.RequestedIPAddress()
		if want == nil || want.IsUnspecified() {
			want = m.ClientIPAddr // renewing: the address is in ciaddr
		}
		if !want.Equal(l.offer) || !l.free(mac) {
			return l.answer(m, dhcpv4.MessageTypeNak), fmt.Sprintf("dhcp: %s asked for %s; refused", mac, want)
		}
		first := !bytes.Equal(l.client, mac)
		l.client = append(net.HardwareAddr(nil), mac...)
		l.expires = l.now().Add(l.time)
		msg := ""
		if first {
			msg = fmt.Sprintf("dhcp: gave %s to %s for %s", l.offer, mac, l.time)
		}
		return l.answer(m, dhcpv4.MessageTypeAck), msg
	case dhcpv4.MessageTypeRelease, dhcpv4.MessageTypeDecline:
		if bytes.Equal(l.client, mac) {
			l.client = nil
		}
		return nil, fmt.Sprintf("dhcp: %s sent %s", mac, m.MessageType())
	}
	return nil, ""
}

// answer builds an OFFER, ACK or NAK. There is no router and no DNS
// option: the laptop must keep its own default route (its Wi-Fi) and
// only reach the camera's subnet over the cable.
func (l *lease) answer(m *dhcpv4.DHCPv4, t dhcpv4.MessageType) *dhcpv4.DHCPv4 {
	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(t),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(l.server)),
	}
	if t != dhcpv4.MessageTypeNak {
		mods = append(mods,
			dhcpv4.WithYourIP(l.offer),
			dhcpv4.WithNetmask(l.mask),
			dhcpv4.WithLeaseTime(uint32(l.time/time.Second)),
		)
	}
	r, err := dhcpv4.NewReplyFromRequest(m, mods...)
	if err != nil {
		// Only fails when the random transaction ID cannot be read,
		// which a reply does not need; keep the message for the log.
		return nil
	}
	return r
}
