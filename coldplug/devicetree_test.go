package coldplug

import (
	"encoding/binary"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/u-root/u-root/pkg/dt"
)

func str(name string, vals ...string) dt.Property {
	var b []byte
	for _, v := range vals {
		b = append(append(b, v...), 0)
	}
	return dt.Property{Name: name, Value: b}
}

func cells(name string, vals ...uint32) dt.Property {
	b := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.BigEndian.PutUint32(b[4*i:], v)
	}
	return dt.Property{Name: name, Value: b}
}

// TestDeviceTreeNodes: a tree shaped like bcm2711-rpi-4-b's SD card
// path. The emmc2 node is enabled and names its supplies; the 1.8 V
// regulator sits under a disabled parent and is reached only as a
// supplier; clocks skip their argument cells; a pin group resolves to its
// controller; disabled nodes nobody needs are left out.
func TestDeviceTreeNodes(t *testing.T) {
	root := dt.NewNode("", dt.WithProperty(str("compatible", "raspberrypi,4-model-b", "brcm,bcm2711")),
		dt.WithChildren(
			dt.NewNode("clocks", dt.WithChildren(
				dt.NewNode("clk-emmc2", dt.WithProperty(str("compatible", "fixed-clock"), cells("#clock-cells", 0), cells("phandle", 1))),
			)),
			dt.NewNode("sd_vcc_reg", dt.WithProperty(str("compatible", "regulator-fixed"), cells("phandle", 2),
				cells("gpio", 4, 6, 0))),
			dt.NewNode("off", dt.WithProperty(str("status", "disabled")), dt.WithChildren(
				dt.NewNode("sd_io_1v8_reg", dt.WithProperty(str("compatible", "regulator-gpio"), cells("phandle", 3),
					cells("gpios", 4, 6, 0))),
				dt.NewNode("unused@1", dt.WithProperty(str("compatible", "vendor,unused"))),
			)),
			dt.NewNode("soc", dt.WithProperty(str("compatible", "simple-bus")), dt.WithChildren(
				dt.NewNode("gpio@7e200000", dt.WithProperty(str("compatible", "brcm,bcm2711-gpio"), cells("phandle", 4),
					cells("#gpio-cells", 2)), dt.WithChildren(
					dt.NewNode("emmc_gpio", dt.WithProperty(cells("phandle", 5))),
				)),
				dt.NewNode("cprman@7e101000", dt.WithProperty(str("compatible", "brcm,bcm2711-cprman"),
					cells("#clock-cells", 1), cells("phandle", 6))),
				dt.NewNode("mmc@7e340000", dt.WithProperty(str("compatible", "brcm,bcm2711-emmc2"),
					cells("clocks", 6, 51, 1), cells("vqmmc-supply", 3), cells("vmmc-supply", 2),
					cells("pinctrl-0", 5), str("pinctrl-names", "default"))),
				dt.NewNode("serial@7e201000", dt.WithProperty(str("compatible", "arm,pl011", "arm,primecell"), str("status", "disabled"))),
			)),
		))
	got := DeviceTreeNodes(root)
	want := []DTNode{
		{Path: "/clocks/clk-emmc2", Compatible: []string{"fixed-clock"}, Modaliases: []string{"of:Nclk-emmc2T(null)Cfixed-clock"}, Enabled: true},
		{Path: "/sd_vcc_reg", Compatible: []string{"regulator-fixed"}, Modaliases: []string{"of:Nsd_vcc_regT(null)Cregulator-fixed"}, Enabled: true},
		{Path: "/soc", Compatible: []string{"simple-bus"}, Modaliases: []string{"of:NsocT(null)Csimple-bus"}, Enabled: true},
		{Path: "/soc/gpio@7e200000", Compatible: []string{"brcm,bcm2711-gpio"}, Modaliases: []string{"of:NgpioT(null)Cbrcm,bcm2711-gpio"}, Enabled: true},
		{Path: "/soc/cprman@7e101000", Compatible: []string{"brcm,bcm2711-cprman"}, Modaliases: []string{"of:NcprmanT(null)Cbrcm,bcm2711-cprman"}, Enabled: true},
		{Path: "/soc/mmc@7e340000", Compatible: []string{"brcm,bcm2711-emmc2"}, Modaliases: []string{"of:NmmcT(null)Cbrcm,bcm2711-emmc2"}, Enabled: true},
		{Path: "/off/sd_io_1v8_reg", Compatible: []string{"regulator-gpio"}, Modaliases: []string{"of:Nsd_io_1v8_regT(null)Cregulator-gpio"}, SupplierOf: "/soc/mmc@7e340000"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DeviceTreeNodes (-want +got):\n%s", diff)
	}
}

func TestNodeModaliasesUSB(t *testing.T) {
	n := dt.NewNode("ethernet@1", dt.WithProperty(str("compatible", "usb424,ec00")))
	got := nodeModaliases(n, []string{"usb424,ec00"})
	want := []string{"of:NethernetT(null)Cusb424,ec00", "usb:v0424pEC00d0000dc00dsc00dp00icFFisc00ip00in00"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("nodeModaliases (-want +got):\n%s", diff)
	}
}

func TestInKernelImage(t *testing.T) {
	// An of_device_id entry: name[32], type[32], compatible[128].
	entry := make([]byte, 32+32+128)
	copy(entry[64:], "brcm,bcm2835-gpio")
	img := append(append([]byte("\x00of_machine_is_compatible\x00brcm,bcm2711\x00brcm,bcm2711-gpio\x00"), entry...), 0xff)
	for _, tc := range []struct {
		compat string
		want   bool
	}{
		{"brcm,bcm2835-gpio", true},
		{"brcm,bcm2711", false}, // a packed string literal, not a match table
		{"brcm,bcm2711-gpio", false},
		{"brcm,bcm2835", false}, // a prefix of an entry
	} {
		if got := InKernelImage(img, tc.compat); got != tc.want {
			t.Errorf("InKernelImage(%q) = %v, want %v", tc.compat, got, tc.want)
		}
	}
}
