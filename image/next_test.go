package image

import (
	"strings"
	"testing"
)

func TestNextSteps(t *testing.T) {
	defaults, err := DefaultSettings()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		settings map[string]string
		want     []string
	}{
		{"defaults", nil, []string{"out/camwire.img", "name=camwire", "address=192.168.77.2/24",
			"receiver=192.168.77.1:10401", "address 192.168.77.1/24", "scripts/flash.sh /dev/sdX", "Use custom"}},
		{"set", map[string]string{"name": "garden", "address": "10.1.2.3/16", "receiver": "10.1.0.1:5000"},
			[]string{"name=garden", "address=10.1.2.3/16", "receiver=10.1.0.1:5000", "address 10.1.0.1/16"}},
		{"problem", map[string]string{"fps": "many"}, []string{"problem:", "fps"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			txt, err := SetSettings(defaults, tc.settings)
			if err != nil {
				t.Fatal(err)
			}
			got := NextSteps("out/camwire.img", txt)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("NextSteps lacks %q:\n%s", w, got)
				}
			}
		})
	}
}
