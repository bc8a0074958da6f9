package gadget

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tree renders dir as "path = value" and "path -> target" lines, sorted.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case p == dir:
		case d.Type()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			trel, _ := filepath.Rel(dir, target)
			out = append(out, rel+" -> "+trel)
		case d.IsDir():
			out = append(out, rel+"/")
		default:
			b, _ := os.ReadFile(p)
			out = append(out, rel+" = "+strings.TrimSuffix(string(b), "\n"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func fakeSys(t *testing.T, udcs ...string) (cfs, udc string) {
	t.Helper()
	root := t.TempDir()
	cfs, udc = filepath.Join(root, "config"), filepath.Join(root, "udc")
	for _, d := range []string{filepath.Join(cfs, "usb_gadget"), udc} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, u := range udcs {
		if err := os.Mkdir(filepath.Join(udc, u), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return cfs, udc
}

func TestBuild(t *testing.T) {
	head := []string{
		"usb_gadget/",
		"usb_gadget/camwire/",
		"usb_gadget/camwire/bDeviceClass = 0xef",
		"usb_gadget/camwire/bDeviceProtocol = 0x01",
		"usb_gadget/camwire/bDeviceSubClass = 0x02",
		"usb_gadget/camwire/bcdDevice = 0x0100",
		"usb_gadget/camwire/bcdUSB = 0x0200",
		"usb_gadget/camwire/configs/",
		"usb_gadget/camwire/configs/c.1/",
		"usb_gadget/camwire/configs/c.1/MaxPower = 500",
		"usb_gadget/camwire/configs/c.1/bmAttributes = 0x80",
		"usb_gadget/camwire/configs/c.1/strings/",
		"usb_gadget/camwire/configs/c.1/strings/0x409/",
		"usb_gadget/camwire/functions/",
		"usb_gadget/camwire/idVendor = 0x1d6b",
		"usb_gadget/camwire/strings/",
		"usb_gadget/camwire/strings/0x409/",
		"usb_gadget/camwire/strings/0x409/manufacturer = camwire",
		"usb_gadget/camwire/strings/0x409/product = camwire camera",
		"usb_gadget/camwire/strings/0x409/serialnumber = 10000000a1b2c3d4",
	}
	rndisDev, rndisHost := MACs("10000000a1b2c3d4", "rndis")
	ncmDev, ncmHost := MACs("10000000a1b2c3d4", "ncm")
	tests := []struct {
		name string
		f    Functions
		want []string // beyond head
	}{
		{"all", AllFunctions, []string{
			"usb_gadget/camwire/UDC = 20980000.usb",
			"usb_gadget/camwire/configs/c.1/acm.usb0 -> usb_gadget/camwire/functions/acm.usb0",
			"usb_gadget/camwire/configs/c.1/ncm.usb0 -> usb_gadget/camwire/functions/ncm.usb0",
			"usb_gadget/camwire/configs/c.1/rndis.usb0 -> usb_gadget/camwire/functions/rndis.usb0",
			"usb_gadget/camwire/configs/c.1/strings/0x409/configuration = rndis+ncm+acm",
			"usb_gadget/camwire/functions/acm.usb0/",
			"usb_gadget/camwire/functions/ncm.usb0/",
			"usb_gadget/camwire/functions/ncm.usb0/dev_addr = " + ncmDev.String(),
			"usb_gadget/camwire/functions/ncm.usb0/host_addr = " + ncmHost.String(),
			"usb_gadget/camwire/functions/rndis.usb0/",
			"usb_gadget/camwire/functions/rndis.usb0/dev_addr = " + rndisDev.String(),
			"usb_gadget/camwire/functions/rndis.usb0/host_addr = " + rndisHost.String(),
			"usb_gadget/camwire/functions/rndis.usb0/os_desc/",
			"usb_gadget/camwire/functions/rndis.usb0/os_desc/interface.rndis/",
			"usb_gadget/camwire/functions/rndis.usb0/os_desc/interface.rndis/compatible_id = RNDIS",
			"usb_gadget/camwire/functions/rndis.usb0/os_desc/interface.rndis/sub_compatible_id = 5162001",
			"usb_gadget/camwire/idProduct = 0x0147",
			"usb_gadget/camwire/os_desc/",
			"usb_gadget/camwire/os_desc/b_vendor_code = 0xcd",
			"usb_gadget/camwire/os_desc/c.1 -> usb_gadget/camwire/configs/c.1",
			"usb_gadget/camwire/os_desc/qw_sign = MSFT100",
			"usb_gadget/camwire/os_desc/use = 1",
		}},
		{"ncm only: no OS descriptor, another product id", Functions{NCM: true}, []string{
			"usb_gadget/camwire/UDC = 20980000.usb",
			"usb_gadget/camwire/configs/c.1/ncm.usb0 -> usb_gadget/camwire/functions/ncm.usb0",
			"usb_gadget/camwire/configs/c.1/strings/0x409/configuration = ncm",
			"usb_gadget/camwire/functions/ncm.usb0/",
			"usb_gadget/camwire/functions/ncm.usb0/dev_addr = " + ncmDev.String(),
			"usb_gadget/camwire/functions/ncm.usb0/host_addr = " + ncmHost.String(),
			"usb_gadget/camwire/idProduct = 0x0142",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfs, udc := fakeSys(t, "20980000.usb", "zz.usb")
			g := &Gadget{ConfigFS: cfs, UDCDir: udc, Serial: "10000000a1b2c3d4", Functions: tt.f}
			got, err := g.Build()
			if err != nil {
				t.Fatal(err)
			}
			if got != "20980000.usb" {
				t.Errorf("Build() bound to %q, want the first UDC 20980000.usb", got)
			}
			want := append(append([]string{}, head...), tt.want...)
			sort.Strings(want)
			if d := cmp.Diff(want, tree(t, cfs)); d != "" {
				t.Errorf("configfs tree (-want +got):\n%s", d)
			}
		})
	}
}

// TestReplug tears the gadget down and builds another function set, as
// a replug with new settings does: nothing of the old set may remain
// (a stale link would keep RNDIS in the new configuration), and the
// product id follows the new set.
func TestReplug(t *testing.T) {
	cfs, udc := fakeSys(t, "dummy_udc.0")
	g := &Gadget{ConfigFS: cfs, UDCDir: udc, Serial: "abc", Functions: AllFunctions}
	if _, err := g.Build(); err != nil {
		t.Fatal(err)
	}
	first := tree(t, cfs)
	if err := g.Teardown(); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"usb_gadget/"}, tree(t, cfs)); d != "" {
		t.Errorf("after Teardown (-want +got):\n%s", d)
	}
	// Build on a gadget left bound (PID 1 restarted): Build tears it
	// down itself.
	if _, err := g.Build(); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(first, tree(t, cfs)); d != "" {
		t.Errorf("rebuild differs from the first build (-want +got):\n%s", d)
	}
	g.Functions = Functions{NCM: true, ACM: true}
	if _, err := g.Build(); err != nil {
		t.Fatal(err)
	}
	got := tree(t, cfs)
	for _, l := range got {
		if strings.Contains(l, "rndis") || strings.Contains(l, "os_desc") {
			t.Errorf("after rebuilding without RNDIS: %q is left", l)
		}
	}
	pid, _ := os.ReadFile(filepath.Join(cfs, "usb_gadget/camwire/idProduct"))
	if got, want := strings.TrimSpace(string(pid)), "0x0146"; got != want {
		t.Errorf("idProduct = %s, want %s", got, want)
	}
	if err := g.Teardown(); err != nil {
		t.Fatal(err)
	}
	if err := g.Teardown(); err != nil {
		t.Errorf("second Teardown: %v, want nil (nothing to remove)", err)
	}
}

func TestNoUDC(t *testing.T) {
	cfs, udc := fakeSys(t)
	g := &Gadget{ConfigFS: cfs, UDCDir: udc, Functions: AllFunctions}
	if _, err := g.Build(); !errors.Is(err, ErrNoUDC) {
		t.Errorf("Build() with no UDC = %v, want ErrNoUDC", err)
	}
	if d := cmp.Diff([]string{"usb_gadget/"}, tree(t, cfs)); d != "" {
		t.Errorf("Build with no UDC wrote (-want +got):\n%s", d)
	}
}

func TestMACs(t *testing.T) {
	seen := map[string]string{}
	for _, serial := range []string{"", "10000000a1b2c3d4", "10000000a1b2c3d5"} {
		for _, fn := range []string{"rndis", "ncm"} {
			dev, host := MACs(serial, fn)
			for side, m := range map[string][]byte{"dev": dev, "host": host} {
				if m[0]&1 != 0 || m[0]&2 == 0 {
					t.Errorf("MACs(%q, %q) %s = %v: want unicast, locally administered", serial, fn, side, m)
				}
				what := serial + "/" + fn + "/" + side
				if prev, ok := seen[string(m)]; ok {
					t.Errorf("%s and %s share %v", prev, what, m)
				}
				seen[string(m)] = what
			}
			again, _ := MACs(serial, fn)
			if again.String() != dev.String() {
				t.Errorf("MACs(%q, %q) not stable: %v then %v", serial, fn, dev, again)
			}
		}
	}
}

func TestProductID(t *testing.T) {
	seen := map[uint16]Functions{}
	for i := 0; i < 8; i++ {
		f := Functions{RNDIS: i&1 != 0, NCM: i&2 != 0, ACM: i&4 != 0}
		id := ProductID(f)
		if prev, ok := seen[id]; ok {
			t.Errorf("ProductID(%v) = ProductID(%v) = %#x", f, prev, id)
		}
		seen[id] = f
	}
}

// TestStepOrder: RNDIS is linked into the configuration first (Windows
// reads the OS descriptor for interface 0).
func TestStepOrder(t *testing.T) {
	g := &Gadget{ConfigFS: "/cfs", Functions: AllFunctions}
	var got []string
	for _, s := range g.steps() {
		switch {
		case s.kind == 'd' && strings.HasPrefix(s.path, "functions/") && strings.Count(s.path, "/") == 1,
			s.kind == 'l' && strings.HasPrefix(s.path, "configs/"):
			got = append(got, string(s.kind)+" "+s.path)
		}
	}
	want := []string{
		"d functions/ncm.usb0", "d functions/rndis.usb0", "d functions/acm.usb0",
		"l configs/c.1/rndis.usb0", "l configs/c.1/ncm.usb0", "l configs/c.1/acm.usb0",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("steps order (-want +got):\n%s", d)
	}
}

// TestBuildDropsMissing: on a kernel without a function's module
// configfs refuses its directory; that function is left out (named in
// Dropped) and the gadget is built with the others, with their product
// id. With none left Build fails, naming each.
func TestBuildDropsMissing(t *testing.T) {
	cfs, udc := fakeSys(t, "dummy_udc.0")
	missing := map[string]bool{"rndis.usb0": true}
	g := &Gadget{ConfigFS: cfs, UDCDir: udc, Serial: "abc", Functions: AllFunctions,
		mkdir: func(p string) error {
			if missing[filepath.Base(p)] {
				return &fs.PathError{Op: "mkdir", Path: p, Err: fs.ErrNotExist}
			}
			return os.Mkdir(p, 0o755)
		}}
	if _, err := g.Build(); err != nil {
		t.Fatalf("Build without usb_f_rndis: %v", err)
	}
	if want := (Functions{NCM: true, ACM: true}); g.Functions != want {
		t.Errorf("Functions = %s, want %s", g.Functions, want)
	}
	if len(g.Dropped) != 1 || !strings.Contains(g.Dropped[0].Error(), "function rndis left out") {
		t.Errorf("Dropped = %v, want rndis named", g.Dropped)
	}
	for _, l := range tree(t, cfs) {
		if strings.Contains(l, "rndis") {
			t.Errorf("built without RNDIS, yet %q is there", l)
		}
	}
	pid, _ := os.ReadFile(filepath.Join(cfs, "usb_gadget/camwire/idProduct"))
	if got, want := strings.TrimSpace(string(pid)), "0x0146"; got != want {
		t.Errorf("idProduct = %s, want %s", got, want)
	}

	missing = map[string]bool{"rndis.usb0": true, "ncm.usb0": true, "acm.usb0": true}
	g.Functions = AllFunctions
	_, err := g.Build()
	if err == nil || !strings.Contains(err.Error(), "acm left out") || !strings.Contains(err.Error(), "ncm left out") {
		t.Errorf("Build with no function's module = %v, want an error naming each", err)
	}
}
