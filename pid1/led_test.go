package pid1

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camwire/camwire/camconsole"
)

func TestFindLED(t *testing.T) {
	for _, tc := range []struct {
		name    string
		leds    []string
		want    string // base name of Dir; "" = error
		wantErr bool
	}{
		{name: "current kernels", leds: []string{"ACT", "PWR"}, want: "ACT"},
		{name: "older kernels", leds: []string{"led0", "led1"}, want: "led0"},
		{name: "qemu has none", leds: nil, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, n := range tc.leds {
				os.MkdirAll(filepath.Join(dir, n), 0o755)
				os.WriteFile(filepath.Join(dir, n, "brightness"), []byte("0"), 0o644)
			}
			l, err := FindLED(dir)
			if tc.wantErr {
				if err == nil {
					t.Errorf("FindLED = %v, want error", l.Dir)
				}
				return
			}
			if err != nil || filepath.Base(l.Dir) != tc.want {
				t.Errorf("FindLED = %v, %v, want %s", l, err, tc.want)
			}
		})
	}
}

// TestLEDPatterns drives Run through each status with a fake Sleep that
// records what the brightness file held for how long.
func TestLEDPatterns(t *testing.T) {
	for _, tc := range []struct {
		status LEDStatus
		warn   bool   // SetWarning(true): a config problem
		want   string // brightness@duration for the first steps
	}{
		{LEDRecording, false, "1@1s 0@1s 1@1s 0@1s"},
		{LEDNoReceiver, false, "1@100ms 0@100ms 1@100ms 0@100ms"},
		{LEDError, false, "1@150ms 0@150ms 1@150ms 0@150ms 1@150ms 0@1.2s 1@150ms 0@150ms"},
		{LEDBooting, false, "1@1h0m0s 1@1h0m0s"},
		{LEDOff, false, "0@1h0m0s 0@1h0m0s"},
		{LEDRecording, true, "1@1s 0@1s 1@150ms 0@150ms 1@150ms 0@150ms 1@150ms 0@1.2s 1@1s"},
		{LEDNoReceiver, true, strings.Repeat("1@100ms 0@100ms ", 10) + "1@150ms 0@150ms 1@150ms 0@150ms 1@150ms 0@1.2s 1@100ms"},
		{LEDError, true, "1@150ms 0@150ms 1@150ms 0@150ms 1@150ms 0@1.2s 1@150ms"},
	} {
		name := tc.status.String()
		if tc.warn {
			name += "+config-problem"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			os.WriteFile(filepath.Join(dir, "trigger"), []byte("[mmc0] none"), 0o644)
			os.WriteFile(filepath.Join(dir, "brightness"), []byte("0"), 0o644)
			n := len(strings.Fields(tc.want))
			var got []string
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			l := &LED{Dir: dir}
			l.Set(tc.status)
			l.SetWarning(tc.warn)
			l.Sleep = func(ctx context.Context, d time.Duration) bool {
				b, _ := os.ReadFile(filepath.Join(dir, "brightness"))
				got = append(got, fmt.Sprintf("%s@%v", b, d))
				if len(got) == n {
					cancel()
					return false
				}
				return true
			}
			if err := l.Run(ctx); err != nil {
				t.Fatalf("Run = %v", err)
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Errorf("pattern %v = %s, want %s", tc.status, g, tc.want)
			}
			trig, _ := os.ReadFile(filepath.Join(dir, "trigger"))
			if string(trig) != "none" {
				t.Errorf("trigger = %q, want none", trig)
			}
			b, _ := os.ReadFile(filepath.Join(dir, "brightness"))
			if string(b) != "0" {
				t.Errorf("brightness after Run = %q, want 0 (off)", b)
			}
		})
	}
}

// TestLEDStatusChange checks that a new status starts its pattern at once
// instead of finishing the old one (a user unplugging the cable sees the
// fast blink immediately).
func TestLEDStatusChange(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "brightness"), []byte("0"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := &LED{Dir: dir}
	l.Set(LEDRecording)
	var got []string
	l.Sleep = func(ctx context.Context, d time.Duration) bool {
		got = append(got, d.String())
		switch len(got) {
		case 1:
			l.Set(LEDNoReceiver) // in the middle of the 1 s on-step
		case 3:
			cancel()
			return false
		}
		return true
	}
	l.Run(ctx)
	if g, w := strings.Join(got, " "), "1s 100ms 100ms"; g != w {
		t.Errorf("steps = %s, want %s", g, w)
	}
}

// TestLEDForState: each recorder state has its own pattern, and the
// names the LED's String gives match the recorder's words.
func TestLEDForState(t *testing.T) {
	for _, st := range []camconsole.State{camconsole.StateNoReceiver, camconsole.StateRecording, camconsole.StateError} {
		if got := ledFor(st).String(); got != string(st) {
			t.Errorf("ledFor(%q) = %v, want the LED status of that name", st, got)
		}
	}
}
