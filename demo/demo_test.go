package demo

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/camwire/camwire/camconsole"
)

func TestReport(t *testing.T) {
	files := []File{
		{Path: "/r/demo/a.mp4", Frames: 150, Duration: 5 * time.Second},
		{Path: "/r/demo/b.mp4", Frames: 17, Duration: 567 * time.Millisecond},
	}
	for _, tc := range []struct {
		name   string
		r      Report
		ok     bool
		inText string
	}{
		{"all there", Report{Summary: camconsole.Summary{Captured: 167, Sent: 167, Acked: 167}, Files: files},
			true, "every frame the camera captured is in a file"},
		{"one frame short", Report{Summary: camconsole.Summary{Captured: 168, Sent: 168, Acked: 168}, Files: files},
			false, "MISMATCH: files hold 167 frames, the camera captured 168"},
		{"dropped", Report{Summary: camconsole.Summary{Captured: 167, Sent: 160, Acked: 160, Dropped: 7}, Files: files},
			false, "MISMATCH"},
		{"a file that does not decode", Report{Summary: camconsole.Summary{Captured: 167, Acked: 167}, Files: append([]File{{Path: "/r/demo/c.mp4", Err: os.ErrInvalid}}, files...)},
			false, "PROBLEM: 1 recordings do not decode"},
		{"nothing recorded", Report{}, false, "0 recordings in /r"},
		{"nothing captured either", Report{Summary: camconsole.Summary{}}, false, "PROBLEM: nothing was recorded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.OK(); got != tc.ok {
				t.Errorf("OK() = %v, want %v", got, tc.ok)
			}
			var b strings.Builder
			tc.r.Print(&b, "/r")
			if !strings.Contains(b.String(), tc.inText) {
				t.Errorf("Print lacks %q:\n%s", tc.inText, b.String())
			}
			if tc.r.Files != nil && !strings.Contains(b.String(), "demo/a.mp4") {
				t.Errorf("Print does not list demo/a.mp4 relative to the folder:\n%s", b.String())
			}
		})
	}
}
