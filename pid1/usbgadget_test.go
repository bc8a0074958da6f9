package pid1

import (
	"strings"
	"testing"

	"github.com/camwire/camwire/config"
)

func TestWantGadget(t *testing.T) {
	zero := BoardFor("Raspberry Pi Zero 2 W Rev 1.0", "")
	zero.GadgetPort = GadgetPort("raspberrypi,model-zero-2-w brcm,bcm2837")
	pi3 := BoardFor("Raspberry Pi 3 Model B Rev 1.2", "")
	pi3.GadgetPort = GadgetPort("raspberrypi,3-model-b brcm,bcm2837")
	for _, tc := range []struct {
		name  string
		mode  config.GadgetMode
		board Board
		want  bool
	}{
		{"auto on the Zero 2 W", config.GadgetAuto, zero, true},
		{"auto on a Pi 3 (host ports only)", config.GadgetAuto, pi3, false},
		{"on on a Pi 3", config.GadgetOn, pi3, true},
		{"off on the Zero 2 W", config.GadgetOff, zero, false},
	} {
		if got := WantGadget(tc.mode, tc.board); got != tc.want {
			t.Errorf("%s: WantGadget(%s, %s) = %v, want %v", tc.name, tc.mode, tc.board.Name, got, tc.want)
		}
	}
}

// TestGadgetInterface: the Zero 2 W's auto takes the gadget's link; an
// interface= naming a port of the bridge (the ports get no frames of
// their own) is moved to the bridge, with a note; anything else stays.
func TestGadgetInterface(t *testing.T) {
	ports := []string{"usb0", "usb1"}
	for _, tc := range []struct {
		name, iface, board, link string
		want                     string
		noted                    bool
	}{
		{"zero2w auto", "", "zero2w", "camwire0", "camwire0", true},
		{"zero2w auto, NCM alone (no bridge)", "", "zero2w", "usb1", "usb1", true},
		{"pi4 auto stays auto (netcfg falls back)", "", "pi4", "camwire0", "", false},
		{"usb0 on a zero2w", "usb0", "zero2w", "camwire0", "camwire0", true},
		{"usb1 on an unknown board", "usb1", "", "camwire0", "camwire0", true},
		{"usb0 without a bridge stays", "usb0", "zero2w", "usb0", "usb0", false},
		{"eth0 stays", "eth0", "pi4", "camwire0", "eth0", false},
		{"camwire0 stays", "camwire0", "pi4", "camwire0", "camwire0", false},
		{"no gadget link", "usb0", "zero2w", "", "usb0", false},
	} {
		got, note := GadgetInterface(tc.iface, tc.board, tc.link, ports)
		if got != tc.want || (note != "") != tc.noted {
			t.Errorf("%s: GadgetInterface(%q, %q, %q) = %q, note %q; want %q, noted %v",
				tc.name, tc.iface, tc.board, tc.link, got, note, tc.want, tc.noted)
		}
		if tc.iface != "" && tc.noted && !strings.Contains(note, "interface="+tc.iface+" is a port of the bridge camwire0") {
			t.Errorf("%s: note %q does not name the port and its bridge", tc.name, note)
		}
	}
}
