package netcfg

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

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
	if got := FromConfig(c); !reflect.DeepEqual(got, want) {
		t.Errorf("FromConfig = %+v, want %+v", got, want)
	}
	if got := FromConfig(config.Default()); got.DHCP != DHCPAuto || got.Offer != netip.MustParseAddr("192.168.77.1") || got.Interface != "" {
		t.Errorf("FromConfig(Default()) = %+v, want auto DHCP offering 192.168.77.1 on the first wired link", got)
	}
}
