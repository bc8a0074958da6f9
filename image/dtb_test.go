package image_test

import (
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/camwire/camwire/coldplug"
	"github.com/camwire/camwire/image"
	"github.com/camwire/camwire/image/bootpkg"
	"github.com/camwire/camwire/image/imagetest"
)

// TestDTBCoverage: on every shipped board, each node the kernel will turn
// into a device that needs a driver — every enabled node with a
// compatible, and every supplier one of them names (regulators, clocks,
// resets, power domains, PHYs) — resolves to a module the initramfs
// carries, to a driver built into the kernel, or to the short list of
// compatibles left without one, with why (image.withoutModule). A Pi 4
// whose SD card regulators (regulator-gpio, regulator-fixed) had no
// driver fails exactly this.
func TestDTBCoverage(t *testing.T) {
	p := imagetest.Parts(t)
	mods, err := image.AllModules(p)
	if err != nil {
		t.Fatal(err)
	}
	checkCoverage(t, p, mods)
}

func checkCoverage(t *testing.T, p bootpkg.Parts, mods []image.Module) {
	t.Helper()
	un, err := image.Uncovered(p, mods)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range un {
		how := "no module in modules.alias and no built-in driver matches"
		if len(n.Modules) > 0 {
			how = "matches " + strings.Join(n.Modules, ", ") + ", not in the initramfs"
		}
		sup := ""
		if n.Node.SupplierOf != "" {
			sup = ", a supplier of " + n.Node.SupplierOf
		}
		t.Errorf("%s: %s %q%s: %s", n.DTB, n.Node.Path, n.Node.Compatible, sup, how)
	}
	needs, err := image.BoardNeeds(p)
	if err != nil {
		t.Fatal(err)
	}
	boards := map[string]bool{}
	for _, n := range needs {
		boards[n.DTB] = true
	}
	if len(boards) != 7 {
		t.Errorf("needs cover %d device trees %v, want the 7 shipped", len(boards), boards)
	}
}

// TestInitramfsColdplug: what camwire-init's coldplug sees on the card —
// the initramfs's own modules.alias — matches every shipped board node
// that should have a module to a module file in the initramfs, among them
// the Pi 4's SD regulators and the thermal sensors; the Pi 4's USB
// (xhci_pci on the VL805, by PCI class) and the Pi's watchdog and camera
// (children their parents register) match too.
func TestInitramfsColdplug(t *testing.T) {
	parts := imagetest.Parts(t)
	gz, err := image.Initramfs{Init: []byte("x"), Parts: parts}.Build()
	if err != nil {
		t.Fatal(err)
	}
	root := unpackInitramfs(t, gz)
	dir := filepath.Join(root, "lib/modules", parts.KernelVersion)
	aliases, err := coldplug.ReadAliases(filepath.Join(dir, "modules.alias"))
	if err != nil {
		t.Fatal(err)
	}
	carried := map[string]bool{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".ko") {
			carried[strings.TrimSuffix(d.Name(), ".ko")] = true
		}
		return nil
	})
	has := func(m string) bool { return carried[strings.ReplaceAll(m, "-", "_")] }
	needs, err := image.BoardNeeds(parts)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range needs {
		if n.NoModule != "" || len(n.Modules) == 0 {
			continue
		}
		var got []string
		for _, ma := range n.Node.Modaliases {
			got = append(got, aliases.Match(ma)...)
		}
		if len(got) == 0 {
			t.Errorf("%s %s %q: the initramfs's modules.alias matches nothing (kernel package: %v)", n.DTB, n.Node.Path, n.Node.Compatible, n.Modules)
		}
		for _, m := range got {
			if !has(m) {
				t.Errorf("%s %s: alias names %s, whose .ko is not in the initramfs", n.DTB, n.Node.Path, m)
			}
		}
	}
	for _, tc := range []struct{ modalias, want string }{
		{"of:NmmcT(null)Cbrcm,bcm2711-emmc2", "sdhci_iproc"},
		{"of:Nsd_io_1v8_regT(null)Cregulator-gpio", "gpio_regulator"},
		{"of:Nsd_vcc_regT(null)Cregulator-fixed", "fixed"},
		{"of:NthermalT(null)Cbrcm,bcm2711-thermal", "bcm2711_thermal"},
		{"of:NthermalT(null)Cbrcm,bcm2837-thermal", "bcm2835_thermal"},
		{"of:NresetT(null)Craspberrypi,firmware-reset", "reset_raspberrypi"},
		{"pci:v00001106d00003483sv00001106sd00003483bc0Csc03i30", "xhci_pci"},
		{"platform:bcm2835-wdt", "bcm2835_wdt"},
		{"platform:bcm2835-camera", "bcm2835_v4l2"},
		{"usb:v0424pEC00d0200dcFFdsc00dp02icFFisc00ipFFin00", "smsc95xx"},
		{"usb:v0424p7800d0300dcFFdsc00dpFFicFFisc00ipFFin00", "lan78xx"},
		{"pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00", "virtio_pci"},
		{"virtio:d00000001v00001AF4", "virtio_net"},
	} {
		if got := aliases.Match(tc.modalias); !slices.Contains(got, tc.want) || !has(tc.want) {
			t.Errorf("initramfs: %s matches %v (carried: %v), want %s", tc.modalias, got, has(tc.want), tc.want)
		}
	}
}
