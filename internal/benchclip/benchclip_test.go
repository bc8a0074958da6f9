package benchclip

import (
	"os"
	"testing"
)

// TestPath: each clip is real 1080p H.264 near the camera's 16 Mbit/s
// (a wrong encoder option would show as a far smaller or larger file).
func TestPath(t *testing.T) {
	for _, k := range Kinds {
		fi, err := os.Stat(Path(t, k))
		if err != nil {
			t.Fatal(err)
		}
		mbit := float64(fi.Size()) * 8 / Seconds / 1e6
		if mbit < 8 || mbit > 24 {
			t.Errorf("%s: %.1f Mbit/s, want about 16", k.Name, mbit)
		}
	}
}
