package pid1

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestConsoleNames(t *testing.T) {
	for _, tc := range []struct {
		name   string
		active *string // nil: no file
		want   []string
	}{
		{name: "serial and screen", active: ptr("tty1 ttyAMA0\n"), want: []string{"tty1", "ttyAMA0"}},
		{name: "qemu serial only", active: ptr("ttyAMA0\n"), want: []string{"ttyAMA0"}},
		{name: "empty file", active: ptr("\n"), want: []string{"console"}},
		{name: "no sysfs", want: []string{"console"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sys := t.TempDir()
			if tc.active != nil {
				d := filepath.Join(sys, "class/tty/console")
				os.MkdirAll(d, 0o755)
				os.WriteFile(filepath.Join(d, "active"), []byte(*tc.active), 0o644)
			}
			if got := ConsoleNames(sys); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("ConsoleNames = %q, want %q", got, tc.want)
			}
		})
	}
}

func ptr(s string) *string { return &s }

func TestOpenConsoles(t *testing.T) {
	dev := t.TempDir()
	for _, n := range []string{"tty1", "ttyAMA0"} {
		os.WriteFile(filepath.Join(dev, n), nil, 0o644)
	}
	var fallback bytes.Buffer
	w := OpenConsoles(dev, []string{"tty1", "ttyAMA0", "ttyMISSING"}, &fallback)
	fmt.Fprintln(w, "camwire: init start")
	for _, n := range []string{"tty1", "ttyAMA0"} {
		b, _ := os.ReadFile(filepath.Join(dev, n))
		if got, want := string(b), "camwire: init start\n"; got != want {
			t.Errorf("%s got %q, want %q", n, got, want)
		}
	}
	if fallback.Len() != 0 {
		t.Errorf("fallback got %q although consoles opened", fallback.String())
	}

	w = OpenConsoles(dev, []string{"nothing"}, &fallback)
	fmt.Fprintln(w, "x")
	if got, want := fallback.String(), "x\n"; got != want {
		t.Errorf("with no console, fallback got %q, want %q", got, want)
	}
}
