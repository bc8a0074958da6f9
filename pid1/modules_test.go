package pid1

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/u-root/u-root/pkg/kmodule"
)

// TestBoardFor: the board comes from the model string or, when the
// firmware did not rewrite it, the device tree's compatible; each names
// only what has no device to match (its PHY) or, on virt, what the first
// frame needs before the coldplug could find it (NIC, disk); the file
// systems every board loads after them.
func TestBoardFor(t *testing.T) {
	for _, tc := range []struct {
		name, model, compatible string
		want                    string
		named                   string // a module loaded by name first; "" none
		boot                    string // first boot device tried
	}{
		{"pi3b", "Raspberry Pi 3 Model B Rev 1.2", "raspberrypi,3-model-b brcm,bcm2837", "pi3", "smsc", "mmcblk0p1"},
		{"pi3b+", "Raspberry Pi 3 Model B Plus Rev 1.3", "raspberrypi,3-model-b-plus brcm,bcm2837", "pi3+", "microchip", "mmcblk0p1"},
		{"pi3b+ by compatible", "Raspberry Pi 3 Model B Rev 1.3", "raspberrypi,3-model-b-plus brcm,bcm2837", "pi3+", "microchip", "mmcblk0p1"},
		{"pi3b+ no model", "", "raspberrypi,3-model-b-plus brcm,bcm2837", "pi3+", "microchip", "mmcblk0p1"},
		{"pi3b no model", "", "raspberrypi,3-model-b brcm,bcm2837", "pi3", "smsc", "mmcblk0p1"},
		{"zero2w", "Raspberry Pi Zero 2 W Rev 1.0", "raspberrypi,model-zero-2-w brcm,bcm2837", "zero2w", "", "mmcblk0p1"},
		{"pi4", "Raspberry Pi 4 Model B Rev 1.4", "raspberrypi,4-model-b brcm,bcm2711", "pi4", "broadcom", "mmcblk0p1"},
		{"pi400 no model", "", "raspberrypi,400 brcm,bcm2711", "pi4", "broadcom", "mmcblk0p1"},
		{"cm4", "Raspberry Pi Compute Module 4 Rev 1.0", "raspberrypi,4-compute-module brcm,bcm2711", "pi4", "broadcom", "mmcblk0p1"},
		{"qemu virt", "", "linux,dummy-virt", "qemu-virt", "virtio_net", "vda1"},
		{"unknown", "Some Board", "vendor,board", "unknown", "microchip", "mmcblk0p1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := BoardFor(tc.model, tc.compatible)
			if b.Name != tc.want {
				t.Errorf("BoardFor(%q, %q).Name = %q, want %q", tc.model, tc.compatible, b.Name, tc.want)
			}
			if tc.named == "" && len(b.Modules) > 0 || tc.named != "" && !slices.Contains(b.Modules, tc.named) {
				t.Errorf("BoardFor(%q).Modules = %v, want it to contain %q (or none for \"\")", tc.model, b.Modules, tc.named)
			}
			if slices.Contains(b.Modules, "vfat") {
				t.Errorf("BoardFor(%q).Modules = %v has vfat: the file systems load after the first modules, for every board", tc.model, b.Modules)
			}
			if b.BootDev[0] != tc.boot {
				t.Errorf("BoardFor(%q).BootDev = %v, want %s first", tc.model, b.BootDev, tc.boot)
			}
		})
	}
}

func TestReadBoard(t *testing.T) {
	proc := t.TempDir()
	os.MkdirAll(filepath.Join(proc, "device-tree"), 0o755)
	os.WriteFile(filepath.Join(proc, "device-tree/model"), []byte("Raspberry Pi 3 Model B Plus Rev 1.3\x00"), 0o644)
	os.WriteFile(filepath.Join(proc, "device-tree/compatible"), []byte("raspberrypi,3-model-b-plus\x00brcm,bcm2837\x00"), 0o644)
	b, model := ReadBoard(proc)
	if b.Name != "pi3+" || model != "Raspberry Pi 3 Model B Plus Rev 1.3" {
		t.Errorf("ReadBoard = %q, %q, want pi3+, the model without NUL", b.Name, model)
	}
	os.Remove(filepath.Join(proc, "device-tree/model"))
	os.WriteFile(filepath.Join(proc, "device-tree/compatible"), []byte("linux,dummy-virt\x00"), 0o644)
	if b, _ := ReadBoard(proc); b.Name != "qemu-virt" {
		t.Errorf("ReadBoard(virt) = %q, want qemu-virt", b.Name)
	}
}

// TestLoadModules loads from a fake /lib/modules tree with u-root's
// dry-run hook: dependencies come before the module, shared ones load
// once, and a missing module is reported by name without stopping the rest.
func TestLoadModules(t *testing.T) {
	root := t.TempDir()
	const kver = "6.1.0-99-arm64"
	dir := filepath.Join(root, "lib/modules", kver)
	os.MkdirAll(dir, 0o755)
	dep := strings.Join([]string{
		"kernel/fs/fat/vfat.ko: kernel/fs/fat/fat.ko",
		"kernel/fs/fat/fat.ko:",
		"kernel/drivers/staging/vc04_services/bcm2835-camera/bcm2835-v4l2.ko: kernel/drivers/staging/vc04_services/vchiq-mmal/bcm2835-mmal-vchiq.ko kernel/drivers/staging/vc04_services/vchiq.ko kernel/drivers/media/v4l2-core/videodev.ko",
		"kernel/drivers/staging/vc04_services/vchiq-mmal/bcm2835-mmal-vchiq.ko: kernel/drivers/staging/vc04_services/vchiq.ko",
		"kernel/drivers/staging/vc04_services/vchiq.ko:",
		"kernel/drivers/media/v4l2-core/videodev.ko:",
		"kernel/drivers/watchdog/bcm2835_wdt.ko:",
	}, "\n") + "\n"
	os.WriteFile(filepath.Join(dir, "modules.dep"), []byte(dep), 0o644)

	// u-root loads a module's dependencies in parallel goroutines, so
	// the callback runs concurrently: guard the list.
	var mu sync.Mutex
	var loaded []string
	errs := LoadModules([]string{"vfat", "bcm2835-v4l2", "nosuchmod", "bcm2835_wdt", "vchiq"}, kmodule.ProbeOpts{
		RootDir: root, KVer: kver, IgnoreProcMods: true,
		DryRunCB: func(p string) {
			mu.Lock()
			defer mu.Unlock()
			loaded = append(loaded, strings.TrimSuffix(filepath.Base(p), ".ko"))
		},
	})
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "nosuchmod") {
		t.Errorf("LoadModules errors = %v, want one naming nosuchmod", errs)
	}
	before := func(a, b string) {
		t.Helper()
		ia, ib := slices.Index(loaded, a), slices.Index(loaded, b)
		if ia < 0 || ib < 0 || ia > ib {
			t.Errorf("loaded %v: want %s before %s", loaded, a, b)
		}
	}
	before("fat", "vfat")
	before("vchiq", "bcm2835-mmal-vchiq")
	before("bcm2835-mmal-vchiq", "bcm2835-v4l2")
	before("videodev", "bcm2835-v4l2")
	for _, m := range []string{"vchiq", "bcm2835_wdt"} {
		if n := count(loaded, m); n != 1 {
			t.Errorf("%s loaded %d times, want 1 (loaded %v)", m, n, loaded)
		}
	}
}

func count(xs []string, x string) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}

func TestGadgetPort(t *testing.T) {
	for _, tc := range []struct {
		compatible string
		want       bool
	}{
		{"raspberrypi,model-zero-2-w brcm,bcm2837", true},
		{"raspberrypi,4-model-b brcm,bcm2711", true},
		{"raspberrypi,400 brcm,bcm2711", false},
		{"raspberrypi,3-model-b brcm,bcm2837", false},
		{"raspberrypi,4-compute-module brcm,bcm2711", false},
		{"linux,dummy-virt", false},
		{"", false},
	} {
		if got := GadgetPort(tc.compatible); got != tc.want {
			t.Errorf("GadgetPort(%q) = %v, want %v", tc.compatible, got, tc.want)
		}
	}
}
