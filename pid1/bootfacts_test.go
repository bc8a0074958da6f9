package pid1

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/camwire/camwire/bootreport"
	"github.com/camwire/camwire/coldplug"
	"github.com/google/go-cmp/cmp"
)

func TestBootFactsReachTheRecorder(t *testing.T) {
	p := filepath.Join(t.TempDir(), "run", "camwire", "init.json")
	b := &bootFacts{path: p}
	b.board("pi3")
	b.modules([]string{"vfat", "vchiq", " ", "bcm2835-v4l2"}, []error{
		errors.New("module bcm2835-v4l2: no such device"),
		errors.New("modules: no modules.dep"),
	})
	b.boot(false, "none of mmcblk0p1, mmcblk1p1 appeared within 20s")
	b.network("192.168.77.5/24 claimed on eth0 after an ARP probe", "")
	b.network("address conflict: 192.168.77.9 is in use", "192.168.77.9 is in use: 52:54:00:12:34:56 answered")
	got, err := bootreport.ReadInit(p)
	if err != nil {
		t.Fatal(err)
	}
	want := bootreport.Init{
		Board: "pi3",
		Modules: []bootreport.Module{{Name: "vfat"}, {Name: "vchiq"}, {Name: "bcm2835-v4l2", Err: "no such device"},
			{Name: "(loader)", Err: "modules: no modules.dep"}},
		Boot:     "none of mmcblk0p1, mmcblk1p1 appeared within 20s",
		Network:  []string{"192.168.77.5/24 claimed on eth0 after an ARP probe", "address conflict: 192.168.77.9 is in use"},
		Conflict: "192.168.77.9 is in use: 52:54:00:12:34:56 answered",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("init file (-want +got):\n%s", diff)
	}
}

// TestBootFactsFromColdplug: with the coldplug's report the module lines
// are what it loaded, failed and skipped, read again at every write.
func TestBootFactsFromColdplug(t *testing.T) {
	p := filepath.Join(t.TempDir(), "init.json")
	m := Modules{Named: []coldplug.Load{{Module: "vfat"}}}
	b := &bootFacts{path: p}
	b.setModules(func() Modules { return m })
	m.Coldplug = coldplug.Result{
		Loaded:  []coldplug.Load{{Module: "vchiq"}},
		Failed:  []coldplug.Load{{Module: "bcm2835_v4l2", Err: errors.New("no such device")}},
		Skipped: []coldplug.Load{{Module: "bcm2835_wdt"}},
		Unbound: []coldplug.Unbound{{Device: coldplug.Device{Path: "devices/platform/soc/3f00b840.mailbox", Modalias: "of:NmailboxT(null)Cbrcm,bcm2835-vchiq"}, Modules: []string{"vchiq"}}},
	}
	b.network("10.0.2.15/24 claimed on usb0", "") // a later write sees the coldplug's progress
	got, err := bootreport.ReadInit(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []bootreport.Module{{Name: "vfat"}, {Name: "vchiq"}, {Name: "bcm2835_v4l2", Err: "no such device"}, {Name: "bcm2835_wdt", Err: "skipped: blacklisted"}}
	if diff := cmp.Diff(want, got.Modules); diff != "" {
		t.Errorf("modules (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"devices/platform/soc/3f00b840.mailbox (of:NmailboxT(null)Cbrcm,bcm2835-vchiq): vchiq loaded but did not bind"}, got.Unbound); diff != "" {
		t.Errorf("unbound (-want +got):\n%s", diff)
	}
}

// TestBootFactsWhileLoading: while the coldplug's first pass runs the
// init file says Loading (the recorder's report waits for it); a module
// loaded by name that a device matched too is listed once.
func TestBootFactsWhileLoading(t *testing.T) {
	p := filepath.Join(t.TempDir(), "init.json")
	m := Modules{Named: []coldplug.Load{{Module: "virtio_net"}}, Loading: true}
	b := &bootFacts{path: p}
	b.setModules(func() Modules { return m })
	if got, err := bootreport.ReadInit(p); err != nil || !got.Loading {
		t.Fatalf("init file = %+v, %v; want Loading while the coldplug runs", got, err)
	}
	m.Loading = false
	m.Coldplug.Loaded = []coldplug.Load{{Module: "virtio-net"}, {Module: "virtio_input"}}
	b.update(func(*bootreport.Init) {})
	got, err := bootreport.ReadInit(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Loading {
		t.Error("init file still Loading after the coldplug's pass")
	}
	if diff := cmp.Diff([]bootreport.Module{{Name: "virtio_net"}, {Name: "virtio_input"}}, got.Modules); diff != "" {
		t.Errorf("modules (-want +got):\n%s", diff)
	}
}
