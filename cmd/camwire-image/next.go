package main

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"

	"github.com/camwire/camwire/config"
	"github.com/camwire/camwire/image"
)

// nextSteps is what `camwire-image build` prints after the image is
// written: where it is, the settings on the card as camwire-init will
// read them (defaults filled in, problems named) and what the user does
// next, so a first-time user needs no other page.
func nextSteps(img string, camwireTxt []byte) string {
	c := config.Default()
	probs := c.ApplyFile(image.SettingsName, bytes.NewReader(camwireTxt))
	var b strings.Builder
	fmt.Fprintf(&b, "\nThe SD card image is %s.\n", img)
	fmt.Fprintf(&b, "Camera settings (camwire.txt on the card): name=%s address=%v receiver=%s source=%s\n",
		c.Name, c.Address, c.Receiver, c.Source)
	for _, p := range probs {
		fmt.Fprintf(&b, "  problem: %v (the default is used)\n", p)
	}
	// Step 3 names the laptop's address: the receiver's, with the
	// camera's prefix when both are on one network. A receiver off that
	// network needs a gateway; without one the camera cannot reach it,
	// and the user must be told what to change, not handed an address
	// that cannot work.
	const dhcp = "\n     (over a direct cable the Pi offers it by DHCP while dhcp_server=auto)"
	laptop := "the address " + c.ReceiverHost() + " on that port" + dhcp
	host, herr := netip.ParseAddr(c.ReceiverHost())
	unreachable := false
	if herr == nil && c.Address.IsValid() {
		net := c.Address.Masked()
		switch {
		case net.Contains(host):
			laptop = "the address " + netip.PrefixFrom(host, c.Address.Bits()).String() + " on that port" + dhcp
		case c.Gateway.IsValid():
			laptop = fmt.Sprintf("the address %s; the camera reaches it through gateway %s", host, c.Gateway)
		default:
			unreachable = true
			laptop = fmt.Sprintf("an address on %s on that port, and receiver= set to it (see the problem above)", net)
			fmt.Fprintf(&b, "  problem: receiver %s is not on the camera's network %s and no gateway is set, so the camera cannot reach it: "+
				"set receiver= to the laptop's address on %s, or gateway= to a router there\n", host, net, net)
		}
	}
	for _, p := range c.Check() {
		if unreachable && p.Key == "receiver" {
			continue // said above, with what to do
		}
		fmt.Fprintf(&b, "  problem: %v\n", p)
	}
	flash := "scripts/flash.sh /dev/sdX"
	if img != defaultImage {
		flash += " " + img
	}
	fmt.Fprintf(&b, `Next:
  1. Write it to an SD card: %s
     (or Raspberry Pi Imager: Choose OS → Use custom → %s; or balenaEtcher).
  2. Settings can be changed later in camwire.txt on the card's FAT partition, from any computer.
  3. Connect the Pi's Ethernet to the laptop. The laptop needs %s.
  4. Run camwire-recv on the laptop (make recv builds it), then power the Pi.
`, flash, img, laptop)
	return b.String()
}
