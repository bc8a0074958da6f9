package netcfg

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestPortError(t *testing.T) {
	if err := PortError("usb0", ""); err != nil {
		t.Errorf("PortError of a link that is no port = %v, want nil", err)
	}
	err := PortError("usb0", "camwire0")
	if err == nil || !strings.Contains(err.Error(), "usb0 is a port of camwire0") || !strings.Contains(err.Error(), "interface=camwire0") {
		t.Errorf("PortError(usb0, camwire0) = %v, want one naming the port, its bridge and the setting", err)
	}
}

func TestChooseWired(t *testing.T) {
	lo := LinkInfo{Index: 1, Name: "lo", Type: "device", EncapType: "loopback"}
	eth0 := LinkInfo{Index: 2, Name: "eth0", Type: "device", EncapType: "ether"}
	wlan0 := LinkInfo{Index: 3, Name: "wlan0", Type: "device", EncapType: "ether"}
	usb0 := LinkInfo{Index: 4, Name: "usb0", Type: "device", EncapType: "ether"}
	enx := LinkInfo{Index: 5, Name: "enx001122334455", Type: "device", EncapType: "ether"}
	br := LinkInfo{Index: 6, Name: "br0", Type: "bridge", EncapType: "ether"}
	port := LinkInfo{Index: 7, Name: "eth9", Type: "device", EncapType: "ether", Enslaved: true}
	veth := LinkInfo{Index: 8, Name: "veth0", Type: "veth", EncapType: "ether"}
	dummy := LinkInfo{Index: 9, Name: "dummy0", Type: "dummy", EncapType: "ether"}
	wg := LinkInfo{Index: 10, Name: "wg0", Type: "wireguard", EncapType: "none"}

	gadgetBr := LinkInfo{Index: 11, Name: "camwire0", Type: "bridge", EncapType: "ether"}
	gadgetPort := LinkInfo{Index: 12, Name: "usb0", Type: "device", EncapType: "ether", Enslaved: true}

	tests := []struct {
		name     string
		links    []LinkInfo
		fallback string
		want     string // "" = none
	}{
		{"nothing yet", []LinkInfo{lo}, "", ""},
		{"pi 3b", []LinkInfo{lo, eth0, wlan0}, "", "eth0"},
		{"wireless only", []LinkInfo{lo, wlan0}, "", ""},
		{"usb nic late", []LinkInfo{lo, wlan0, usb0}, "", "usb0"},
		{"lowest index wins", []LinkInfo{enx, usb0, lo}, "", "usb0"},
		{"predictable name", []LinkInfo{lo, enx}, "", "enx001122334455"},
		{"bridge and its port skipped", []LinkInfo{lo, br, port, veth}, "", "veth0"},
		{"gadget bridge without a fallback", []LinkInfo{lo, gadgetBr, gadgetPort}, "", ""},
		{"gadget bridge as the fallback", []LinkInfo{lo, wlan0, gadgetBr, gadgetPort}, "camwire0", "camwire0"},
		{"a wired link beats the fallback", []LinkInfo{lo, gadgetBr, eth0}, "camwire0", "eth0"},
		{"a fallback that is a port is not taken", []LinkInfo{lo, gadgetPort}, "usb0", ""},
		{"fallback not there yet", []LinkInfo{lo}, "camwire0", ""},
		{"virtual kinds skipped", []LinkInfo{lo, dummy, wg}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ChooseWired(tt.links, tt.fallback)
			if !ok {
				got.Name = ""
			}
			if got.Name != tt.want {
				t.Errorf("ChooseWired(%v) = %q, want %q", tt.links, got.Name, tt.want)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	addr := netip.MustParsePrefix("192.168.77.2/24")
	gw := netip.MustParseAddr("192.168.77.254")
	other := netip.MustParsePrefix("10.0.0.5/8")
	tests := []struct {
		name string
		want Want
		cur  State
		acts string
	}{
		{"fresh link", Want{addr, gw}, State{Name: "eth0"},
			"LinkSetUp eth0; AddrReplace eth0 192.168.77.2/24; RouteReplace eth0 default via 192.168.77.254"},
		{"done", Want{addr, gw}, State{Name: "eth0", Up: true, Addrs: []netip.Prefix{addr}, Gateway: gw}, ""},
		{"no gateway wanted", Want{addr, netip.Addr{}}, State{Name: "eth0", Up: true, Addrs: []netip.Prefix{addr}}, ""},
		{"taken down", Want{addr, gw}, State{Name: "eth0", Addrs: []netip.Prefix{addr}},
			"LinkSetUp eth0; RouteReplace eth0 default via 192.168.77.254"},
		{"address removed", Want{addr, netip.Addr{}}, State{Name: "usb0", Up: true, Addrs: []netip.Prefix{other}},
			"AddrReplace usb0 192.168.77.2/24"},
		{"same address other prefix", Want{addr, netip.Addr{}}, State{Name: "eth0", Up: true, Addrs: []netip.Prefix{netip.MustParsePrefix("192.168.77.2/16")}},
			"AddrReplace eth0 192.168.77.2/24"},
		{"other gateway", Want{addr, gw}, State{Name: "eth0", Up: true, Addrs: []netip.Prefix{addr}, Gateway: netip.MustParseAddr("192.168.77.1")},
			"RouteReplace eth0 default via 192.168.77.254"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, a := range Plan(tt.want, tt.cur) {
				got = append(got, a.String())
			}
			if s := strings.Join(got, "; "); s != tt.acts {
				t.Errorf("Plan(%+v, %+v) =\n%q, want\n%q", tt.want, tt.cur, s, tt.acts)
			}
		})
	}
}

func TestPlanIdempotent(t *testing.T) {
	want := Want{netip.MustParsePrefix("192.168.77.2/24"), netip.MustParseAddr("192.168.77.254")}
	cur := State{Name: "eth0"}
	// Apply the plan to a model of the kernel and plan again: nothing.
	for _, a := range Plan(want, cur) {
		switch a.Kind {
		case LinkUp:
			cur.Up = true
		case AddrReplace:
			cur.Addrs = append(cur.Addrs, a.Addr)
		case RouteReplace:
			cur.Gateway = a.Gateway
		}
	}
	if diff := cmp.Diff([]Action(nil), Plan(want, cur), cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{})); diff != "" {
		t.Errorf("Plan after applying the plan, want nothing (-want +got):\n%s", diff)
	}
}

func TestAlternative(t *testing.T) {
	p := netip.MustParsePrefix("192.168.77.2/24")
	recv := netip.MustParseAddr("192.168.77.1")
	a := net.HardwareAddr{0xb8, 0x27, 0xeb, 1, 2, 3}
	b := net.HardwareAddr{0xb8, 0x27, 0xeb, 1, 2, 4}
	seen := map[netip.Prefix]bool{}
	for k := 1; k <= 50; k++ {
		alt := Alternative(p, a, k, p.Addr(), recv)
		h := alt.Addr().As4()[3]
		if alt.Bits() != 24 || !p.Masked().Contains(alt.Addr()) || h == 0 || h == 255 || alt.Addr() == recv || alt == p {
			t.Fatalf("Alternative(%v, k=%d) = %v: want another host of the subnet, not .0, .255, the receiver or the taken one", p, k, alt)
		}
		seen[alt] = true
	}
	if len(seen) < 40 {
		t.Errorf("50 tries gave %d different addresses", len(seen))
	}
	if Alternative(p, a, 1) == Alternative(p, b, 1) {
		t.Errorf("two cameras that collided get the same alternative %v", Alternative(p, a, 1))
	}
	tiny := netip.MustParsePrefix("10.0.0.1/30") // hosts .1 and .2
	if got, want := Alternative(tiny, a, 1), netip.MustParsePrefix("10.0.0.2/30"); got != want {
		t.Errorf("Alternative(%v) = %v, want %v (the only other host)", tiny, got, want)
	}
}
