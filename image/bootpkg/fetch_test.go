package bootpkg_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camwire/camwire/image/bootpkg"
	"github.com/camwire/camwire/image/imagetest"
)

// TestFetchOffline: CAMWIRE_DEBS, a directory of .debs, builds without
// apt, into a fresh cache.
func TestFetchOffline(t *testing.T) {
	parts := imagetest.Parts(t)
	debs, _ := filepath.Glob(filepath.Join(bootpkg.DefaultCache(), "debs", "*.deb"))
	dir := t.TempDir()
	for _, d := range debs {
		if strings.Contains(filepath.Base(d), parts.KernelVersion) || strings.HasPrefix(filepath.Base(d), "raspi-firmware_") {
			if err := os.Symlink(d, filepath.Join(dir, filepath.Base(d))); err != nil {
				t.Fatal(err)
			}
		}
	}
	if os.Getenv("CAMWIRE_DEBS") != "" {
		dir = os.Getenv("CAMWIRE_DEBS")
	}
	f := &bootpkg.Fetcher{Cache: t.TempDir(), Debs: dir, Log: t.Logf}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	got, err := f.Fetch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.KernelVersion != parts.KernelVersion {
		t.Errorf("offline fetch: kernel %s, want %s", got.KernelVersion, parts.KernelVersion)
	}
	for _, p := range []string{got.Kernel(), got.Firmware("start_x.elf"), got.DTB("bcm2837-rpi-3-b.dtb"), filepath.Join(got.ModulesDir(), "modules.dep")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("offline fetch: %v", err)
		}
	}
}
