package pid1

import (
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
