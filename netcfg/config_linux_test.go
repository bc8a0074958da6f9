package netcfg

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/camwire/camwire/config"
)

func TestFromConfig(t *testing.T) {
	c := config.Default()
	if probs := c.ApplyFile("camwire.txt", strings.NewReader("interface=usb0\naddress=10.9.0.2/16\ngateway=10.9.0.1\nreceiver=10.9.0.7:5000\ndhcp_server=on\n")); len(probs) != 0 {
		t.Fatal(probs)
	}
	want := &Manager{
		Interface: "usb0",
		Address:   netip.MustParsePrefix("10.9.0.2/16"),
		Gateway:   netip.MustParseAddr("10.9.0.1"),
		DHCP:      DHCPOn,
		Offer:     netip.MustParseAddr("10.9.0.7"),
		Probe:     &DefaultProbe,
	}
	if diff := cmp.Diff(want, FromConfig(c), cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{})); diff != "" {
		t.Errorf("FromConfig(camwire.txt) mismatch (-want +got):\n%s", diff)
	}
	if got := FromConfig(config.Default()); got.DHCP != DHCPAuto || got.Offer != netip.MustParseAddr("192.168.77.1") || got.Interface != "" {
		t.Errorf("FromConfig(Default()) = %+v, want auto DHCP offering 192.168.77.1 on the first wired link", got)
	}
}
