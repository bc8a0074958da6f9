package coldplug

import (
	"errors"
	"os"
	"testing"
	"time"
)

// TestUeventSocket reads a real kernel uevent: writing an action to a
// device's uevent file (root only) makes the kernel send one for it.
func TestUeventSocket(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root to make the kernel send a uevent")
	}
	s, err := openUevents()
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	defer s.close()
	const dev = "/devices/virtual/mem/null"
	if err := os.WriteFile("/sys"+dev+"/uevent", []byte("change"), 0o200); err != nil {
		t.Skipf("skipping: cannot trigger a uevent here: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ev, err := s.read(time.Second)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.Env["DEVPATH"] == dev {
			if ev.Action != "change" || ev.Env["SUBSYSTEM"] != "mem" {
				t.Errorf("uevent for %s = %+v, want action change, subsystem mem", dev, ev)
			}
			return
		}
	}
	t.Fatalf("no uevent for %s within 30 s", dev)
}
