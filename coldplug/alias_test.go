package coldplug

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestMatch matches modalias strings as the kernel prints them for the
// shipped boards' devices (device-tree nodes of bcm2837-rpi-3-b and
// bcm2711-rpi-4-b, the USB devices on their hubs) and for QEMU virt's
// virtio-net-pci, against lines of Debian's real modules.alias.
func TestMatch(t *testing.T) {
	a, err := ReadAliases("testdata/modules.alias")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, modalias string
		want           []string
	}{
		{"pi3 sdhost", "of:NmmcT(null)Cbrcm,bcm2835-sdhost", []string{"bcm2835"}},
		{"pi3 sdhci (wifi)", "of:NmmcT(null)Cbrcm,bcm2835-sdhci", []string{"sdhci_iproc"}},
		{"pi4 emmc2", "of:NmmcT(null)Cbrcm,bcm2711-emmc2", []string{"sdhci_iproc"}},
		{"pi4 sd_io_1v8_reg", "of:Nsd_io_1v8_regT(null)Cregulator-gpio", []string{"gpio_regulator"}},
		{"pi4 sd_vcc_reg", "of:Nsd_vcc_regT(null)Cregulator-fixed", []string{"fixed"}},
		{"pi4 thermal", "of:NthermalT(null)Cbrcm,bcm2711-thermal", []string{"bcm2711_thermal"}},
		{"pi3 thermal", "of:NthermalT(null)Cbrcm,bcm2837-thermal", []string{"bcm2835_thermal"}},
		{"pi4 firmware reset", "of:NresetT(null)Craspberrypi,firmware-reset", []string{"reset_raspberrypi"}},
		{"pi vchiq, second compatible", "of:NmailboxT(null)Cbrcm,bcm2836-vchiqCbrcm,bcm2835-vchiq", []string{"vchiq"}},
		{"dwc2", "of:NusbT(null)Cbrcm,bcm2835-usb", []string{"dwc2"}},
		{"ACT LED", "of:NledsT(null)Cgpio-leds", []string{"leds_gpio"}},
		{"camera, registered by vchiq", "platform:bcm2835-camera", []string{"bcm2835_v4l2"}},
		{"watchdog, registered by bcm2835-pm", "platform:bcm2835-wdt", []string{"bcm2835_wdt"}},
		{"pi3 LAN9514 ethernet", "usb:v0424pEC00d0200dcFFdsc00dp02icFFisc00ipFFin00", []string{"smsc95xx"}},
		{"pi3+ LAN7800", "usb:v0424p7800d0300dcFFdsc00dpFFicFFisc00ipFFin00", []string{"lan78xx"}},
		{"pi4 VL805 xhci", "pci:v00001106d00003483sv00001106sd00003483bc0Csc03i30", []string{"xhci_pci"}},
		// QEMU's usb-net is the Linux gadget's 0525:a4a2, which
		// cdc_subset also claims by ID: every match is tried, as
		// modprobe does, and the driver that fits binds.
		{"qemu usb-net CDC ECM", "usb:v0525pA4A2d0000dc02dsc00dp00ic02isc06ip00in00", []string{"cdc_ether", "cdc_subset"}},
		{"qemu usb-net RNDIS", "usb:v0525pA4A2d0000dc02dsc00dp00icE0isc01ip03in00", []string{"rndis_host", "cdc_subset"}},
		{"qemu usb-kbd", "usb:v0627p0001d0000dc00dsc00dp00ic03isc01ip01in00", []string{"usbhid"}},
		{"hid keyboard", "hid:b0003g0001v00000627p00000001", []string{"hid_generic"}},
		{"virt virtio-net-pci", "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00", []string{"virtio_pci"}},
		{"virt virtio net", "virtio:d00000001v00001AF4", []string{"virtio_net"}},
		{"virt virtio blk", "virtio:d00000002v00001AF4", []string{"virtio_blk"}},
		{"cpu features: sha2-ce", "cpu:type:aarch64:feature:,0000,0001,0002,0003,0004,0005,0006,0007", []string{"sha2_ce"}},
		{"no driver (simple-bus)", "of:NsocT(null)Csimple-bus", nil},
		{"'-' and '_' are one", "of:NmmcT(null)Cbrcm,bcm2835_sdhost", []string{"bcm2835"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, a.Match(tc.modalias)); diff != "" {
				t.Errorf("Match(%q) (-want +got):\n%s", tc.modalias, diff)
			}
		})
	}
}

func TestFnmatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"of:N*T*Cfoo", "of:NxT(null)Cfoo", true},
		{"of:N*T*CfooC*", "of:NxT(null)Cfoo", false},
		{"of:N*T*CfooC*", "of:NxT(null)CfooCbar", true},
		{"of:N*T*Cbar", "of:NxT(null)CfooCbar", true},
		{"a/*/c", "a/b/x/c", true}, // '/' is no separator
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"pci:v*d*bc0[Cc]*", "pci:v1d2bc0C", true},
		{"pci:v*d*bc0[!C]*", "pci:v1d2bc0C", false},
		{"pci:v*d*bc0[^C]*", "pci:v1d2bc0D", true},
		{"x[0-9]y", "x5y", true},
		{"x[0-9]y", "xay", false},
		{"x[]]y", "x]y", true},
		{`x\*y`, "x*y", true},
		{`x\*y`, "xay", false},
		{"x[y", "x[y", true}, // unterminated '[' is literal
		{"*", "", true},
		{"", "", true},
		{"a*", "", false},
		{"*a*b*c*", "xxaxxbxxcxx", true},
		{"*a*b*c*", "xxaxxcxxbxx", false},
	} {
		if got := fnmatch(tc.pattern, tc.s); got != tc.want {
			t.Errorf("fnmatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
		if tc.want {
			// The prefilter must never reject a match.
			if lit := longestLiteral(tc.pattern); !strings.Contains(tc.s, lit) {
				t.Errorf("longestLiteral(%q) = %q, not in matching %q", tc.pattern, lit, tc.s)
			}
		}
	}
}

func TestParseAliasesError(t *testing.T) {
	_, err := ParseAliases(strings.NewReader("alias of:N*T*Cfoo foo\nalias broken\n"))
	if err == nil || !strings.Contains(err.Error(), ":2:") {
		t.Errorf("ParseAliases(bad line 2) = %v, want an error naming line 2", err)
	}
}
