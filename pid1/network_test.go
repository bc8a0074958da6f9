package pid1

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/camwire/camwire/config"
	"github.com/camwire/camwire/netcfg"
	"github.com/google/go-cmp/cmp"
)

// TestManagerFor: the network settings reach netcfg unchanged, and the
// receiver's host is what the laptop is offered.
func TestManagerFor(t *testing.T) {
	set := func(file string) config.Config {
		c := config.Default()
		if probs := c.ApplyFile("camwire.txt", strings.NewReader(file)); len(probs) != 0 {
			t.Fatal(probs)
		}
		return c
	}
	for _, tc := range []struct {
		name     string
		c        config.Config
		want     *netcfg.Manager
		wantNote string
	}{
		{"all set", set("interface=usb0\naddress=10.9.0.2/16\ngateway=10.9.0.1\nreceiver=10.9.0.7:5000\ndhcp_server=on\n"),
			&netcfg.Manager{Fallback: "camwire0", Interface: "usb0", Address: netip.MustParsePrefix("10.9.0.2/16"), Gateway: netip.MustParseAddr("10.9.0.1"),
				DHCP: netcfg.DHCPOn, Offer: netip.MustParseAddr("10.9.0.7"), Probe: &netcfg.DefaultProbe}, ""},
		{"defaults: auto DHCP offering 192.168.77.1 on the first wired link", config.Default(),
			&netcfg.Manager{Fallback: "camwire0", Address: netip.MustParsePrefix("192.168.77.2/24"), DHCP: netcfg.DHCPAuto, Offer: netip.MustParseAddr("192.168.77.1"), Probe: &netcfg.DefaultProbe}, ""},
		{"receiver by name", set("receiver=laptop.local:10401\n"),
			&netcfg.Manager{Fallback: "camwire0", Address: netip.MustParsePrefix("192.168.77.2/24"), DHCP: netcfg.DHCPOff, Probe: &netcfg.DefaultProbe},
			`receiver "laptop.local:10401" is a name, not an address: no DHCP server`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, note := managerFor(tc.c)
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
				cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
				t.Errorf("managerFor (-want +got):\n%s", diff)
			}
			if note != tc.wantNote {
				t.Errorf("note = %q, want %q", note, tc.wantNote)
			}
		})
	}
}
