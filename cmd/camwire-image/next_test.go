package main

import (
	"strings"
	"testing"

	"github.com/camwire/camwire/image"
)

func TestNextSteps(t *testing.T) {
	defaults, err := image.DefaultSettings()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		settings map[string]string
		want     []string
		wantNot  []string
	}{
		{"defaults", nil, []string{"out/camwire.img", "name=camwire", "address=192.168.77.2/24",
			"receiver=192.168.77.1:10401", "address 192.168.77.1/24", "scripts/flash.sh /dev/sdX", "Use custom"},
			[]string{"problem:"}},
		{"set", map[string]string{"name": "garden", "address": "10.1.2.3/16", "receiver": "10.1.0.1:5000"},
			[]string{"name=garden", "address=10.1.2.3/16", "receiver=10.1.0.1:5000", "address 10.1.0.1/16"},
			[]string{"problem:"}},
		{"problem", map[string]string{"fps": "many"}, []string{"problem:", "fps"}, nil},
		// The default receiver is not on the camera's network and there
		// is no gateway: no laptop address can work, the user must
		// change receiver= or gateway=.
		{"receiver off the network", map[string]string{"address": "10.9.8.7/16"},
			[]string{"problem: receiver 192.168.77.1 is not on the camera's network 10.9.0.0/16 and no gateway is set",
				"set receiver=", "or gateway=", "needs an address on 10.9.0.0/16"},
			[]string{"192.168.77.1/16", "settings: receiver"}},
		{"receiver through a gateway", map[string]string{"address": "10.9.8.7/16", "gateway": "10.9.0.1"},
			[]string{"the address 192.168.77.1; the camera reaches it through gateway 10.9.0.1"},
			[]string{"problem:", "192.168.77.1/16"}},
		{"receiver is the camera", map[string]string{"receiver": "192.168.77.2"},
			[]string{"problem: settings: receiver: 192.168.77.2 is the camera's own address"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			txt, err := image.SetSettings(defaults, tc.settings)
			if err != nil {
				t.Fatal(err)
			}
			got := nextSteps("out/camwire.img", txt)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("nextSteps lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(got, w) {
					t.Errorf("nextSteps has %q:\n%s", w, got)
				}
			}
		})
	}
}
