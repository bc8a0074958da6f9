package image

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/camwire/camwire/config"
)

// NextSteps is what `camwire-image build` prints after the image is
// written: where it is, the settings on the card as camwire-init will
// read them (defaults filled in, problems named) and what the user does
// next, so a first-time user needs no other page.
func NextSteps(img string, camwireTxt []byte) string {
	c := config.Default()
	probs := c.ApplyFile(SettingsName, bytes.NewReader(camwireTxt))
	var b strings.Builder
	fmt.Fprintf(&b, "\nThe SD card image is %s.\n", img)
	fmt.Fprintf(&b, "Camera settings (camwire.txt on the card): name=%s address=%v receiver=%s source=%s\n",
		c.Name, c.Address, c.Receiver, c.Source)
	for _, p := range probs {
		fmt.Fprintf(&b, "  problem: %v (the default is used)\n", p)
	}
	laptop := c.Receiver
	if h, _, err := net.SplitHostPort(c.Receiver); err == nil {
		laptop = h
	}
	if a, err := netip.ParseAddr(laptop); err == nil && c.Address.IsValid() {
		laptop = netip.PrefixFrom(a, c.Address.Bits()).String()
	}
	flash := "scripts/flash.sh /dev/sdX"
	if img != DefaultImage {
		flash += " " + img
	}
	fmt.Fprintf(&b, `Next:
  1. Write it to an SD card: %s
     (or Raspberry Pi Imager: Choose OS → Use custom → %s; or balenaEtcher).
  2. Settings can be changed later in camwire.txt on the card's FAT partition, from any computer.
  3. Connect the Pi's Ethernet to the laptop. The laptop needs the address %s on that port
     (over a direct cable the Pi offers it by DHCP while dhcp_server=auto).
  4. Run camwire-recv on the laptop (make recv builds it), then power the Pi.
`, flash, img, laptop)
	return b.String()
}
