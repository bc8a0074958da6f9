package camconsole

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSummaryRoundTrip(t *testing.T) {
	s := Summary{Captured: 167, Sent: 160, Acked: 159, Dropped: 7}
	line := s.Format()
	if want := "captured=167 sent=160 acked=159 dropped=7"; line != want {
		t.Errorf("Format() = %q, want %q", line, want)
	}
	got, err := ParseSummary(line)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, got); diff != "" {
		t.Errorf("ParseSummary(Format()) (-want +got):\n%s", diff)
	}
}

func TestParseSummary(t *testing.T) {
	for _, tc := range []struct {
		line    string
		want    Summary
		wantErr bool
	}{
		{"captured=1 sent=2 acked=3 dropped=4", Summary{1, 2, 3, 4}, false},
		{"captured=1 sent=2 acked=3 dropped=4\r\n", Summary{1, 2, 3, 4}, false},
		{"$ captured=1 sent=2 acked=3 dropped=4", Summary{1, 2, 3, 4}, false}, // after a debug shell's prompt
		{"xcaptured=1 sent=2 acked=3 dropped=4", Summary{}, true},
		{"captured=1 sent=2 acked=3", Summary{}, true},
		{"captured=1 sent=2 acked=3 dropped=4 more", Summary{}, true},
		{"captured=-1 sent=2 acked=3 dropped=4", Summary{}, true},
		{"captured=99999999999999999999 sent=2 acked=3 dropped=4", Summary{}, true},
	} {
		got, err := ParseSummary(tc.line)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseSummary(%q) error = %v, want error %v", tc.line, err, tc.wantErr)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseSummary(%q) (-want +got):\n%s", tc.line, diff)
		}
	}
}

func TestFindSummary(t *testing.T) {
	one := "camwire: init start\ncaptured=5 sent=5 acked=5 dropped=0\ncamwire: power off\n"
	if s, err := FindSummary(one); err != nil || s != (Summary{5, 5, 5, 0}) {
		t.Errorf("FindSummary(one) = %+v, %v", s, err)
	}
	for _, out := range []string{"camwire: init start\n", one + "captured=5 sent=5 acked=5 dropped=0\n"} {
		if _, err := FindSummary(out); err == nil {
			t.Errorf("FindSummary(%q) succeeded, want an error (not exactly one summary)", out)
		}
	}
}

func TestParseState(t *testing.T) {
	for _, tc := range []struct {
		line string
		want State
		ok   bool
	}{
		{StateRecording.Line(), StateRecording, true},
		{StateNoReceiver.Line(), StateNoReceiver, true},
		{"camwire: state error camera: no /dev/video0", StateError, true},
		{"camwire: state recording (acked 12)", StateRecording, true},
		{"camwire: state sleeping", "", false},
		{"camwire: statement", "", false},
		{"captured=1 sent=1 acked=1 dropped=0", "", false},
	} {
		got, ok := ParseState(tc.line)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseState(%q) = %q, %v, want %q, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

func TestBootStep(t *testing.T) {
	b := BootStep{Name: "modules", Took: 83 * time.Millisecond}
	if got, want := b.Line(), "camwire: boot step modules 0.08s"; got != want {
		t.Errorf("Line() = %q, want %q", got, want)
	}
	got, ok := ParseBootStep(b.Line())
	if !ok {
		t.Fatalf("ParseBootStep(%q) failed", b.Line())
	}
	if diff := cmp.Diff(BootStep{Name: "modules", Took: 80 * time.Millisecond}, got); diff != "" {
		t.Errorf("ParseBootStep (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"camwire: boot step modules", "camwire: boot step  0.1s", "camwire: boot step x 5", "camwire: boot done after 3ms (board virt)"} {
		if _, ok := ParseBootStep(bad); ok {
			t.Errorf("ParseBootStep(%q) ok, want not a boot step line", bad)
		}
	}
}

// TestLines pins the exact words other programs read.
func TestLines(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{FirstSentLine(123 * time.Millisecond), "camwire: first frame sent after 123ms"},
		{FirstAckedLine(1500 * time.Millisecond), "camwire: first frame acked after 1500ms"},
		{ConfigLine("camwire.txt:3: fps: bad value"), "camwire: config: camwire.txt:3: fps: bad value"},
		{BootDoneLine(1234*time.Millisecond, "pi3"), "camwire: boot done after 1234ms (board pi3)"},
		{ShutdownLine(syscall.SIGINT), "camwire: shutdown (signal interrupt)"},
	} {
		if tc.got != tc.want {
			t.Errorf("line = %q, want %q", tc.got, tc.want)
		}
	}
	if !IsConfig(ConfigLine("x")) || IsConfig(StateError.Line()) {
		t.Error("IsConfig does not tell config lines from others")
	}
}

func TestMatch(t *testing.T) {
	re := Match(FirstAckedPrefix)
	for line, want := range map[string]bool{
		"camwire: first frame acked after 5ms":   true,
		"$ camwire: first frame acked after 5ms": true,
		"camwire: first frame sent after 5ms":    false,
		"xcamwire: first frame acked after 5ms":  false,
	} {
		if got := re.MatchString(line); got != want {
			t.Errorf("Match(%q).MatchString(%q) = %v, want %v", FirstAckedPrefix, line, got, want)
		}
	}
	if !strings.HasPrefix(InitStart, Prefix) {
		t.Errorf("InitStart %q lacks %q", InitStart, Prefix)
	}
}
