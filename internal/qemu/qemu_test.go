package qemu

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestArgsRaspi3b: the Pi 3 B gets the Pi's device tree, QEMU's usb-net
// (cdc_ether in the guest), a USB keyboard for Ctrl-Alt-Del and the image
// as its SD card; QEMU's SD model takes only power-of-two sizes, so any
// other size is refused here with a clear message instead of by QEMU.
func TestArgsRaspi3b(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.img")
	bad := filepath.Join(dir, "bad.img")
	if err := os.WriteFile(good, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, make([]byte, 3<<19), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		c       Config
		want    []string // substrings of the joined command line
		wantErr string
	}{
		{"sd card", Config{Board: Raspi3b, Kernel: "k", DTB: "d.dtb", Disk: good, Append: "x"},
			[]string{"-M raspi3b", "-dtb d.dtb", "-device usb-net,netdev=n0", "-netdev user,id=n0", "-device usb-kbd", "-drive if=sd,format=raw,file=" + good}, ""},
		{"no disk", Config{Board: Raspi3b, Kernel: "k", DTB: "d.dtb", Initrd: "i"},
			[]string{"-M raspi3b", "-initrd i"}, ""},
		{"no watchdog", Config{Board: Raspi3b, Kernel: "k", DTB: "d.dtb", Append: "console=ttyAMA0 panic=-1"},
			[]string{"-append console=ttyAMA0 panic=-1 " + NoWatchdog}, ""},
		{"net id", Config{Board: Raspi3b, Kernel: "k", DTB: "d.dtb", NetID: "cam"},
			[]string{"-device usb-net,netdev=cam", "-netdev user,id=cam"}, ""},
		{"watchdog kept", Config{Board: Raspi3b, Kernel: "k", DTB: "d.dtb", Append: "quiet", Watchdog: true},
			[]string{"-append quiet -dtb"}, ""},
		{"no dtb", Config{Board: Raspi3b, Kernel: "k"}, nil, "device tree"},
		{"odd size", Config{Board: Raspi3b, Kernel: "k", DTB: "d.dtb", Disk: bad}, nil, "power of two"},
		{"missing disk", Config{Board: Raspi3b, Kernel: "k", DTB: "d.dtb", Disk: filepath.Join(dir, "none")}, nil, "no such file"},
		{"unknown board", Config{Board: "pi9", Kernel: "k"}, nil, "unknown board"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args, err := Args(tc.c)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Args() error = %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			line := strings.Join(args, " ")
			if strings.Contains(line, NoWatchdog) == tc.c.Watchdog {
				t.Errorf("Args() = %q: %s present = %v, want %v", line, NoWatchdog, !tc.c.Watchdog, tc.c.Watchdog)
			}
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("Args() = %q, lacks %q", line, w)
				}
			}
		})
	}
}

// TestStartFailureCleansUp: a Start that fails after making its
// temporary directory (here: the context is already cancelled, so the
// emulator is never started) leaves no directory behind, as there is no
// Machine the caller could Close.
func TestStartFailureCleansUp(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m, err := Start(ctx, Config{Board: Virt, Kernel: "k"})
	if err == nil {
		m.Close()
		t.Fatal("Start with a cancelled context succeeded, want an error")
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("Start failed (%v) but left %v in TMPDIR", err, left)
	}
}
