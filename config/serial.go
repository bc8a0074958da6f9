package config

import (
	"hash/fnv"
	"net/netip"
	"os"
	"strings"
)

// Several cameras flashed from one image must not all be "camwire" at
// 192.168.77.2: their files would mix in one folder on the laptop, and
// on one switch the second Pi's address conflicts with the first. So when
// camwire.txt, the command line and the flags leave name and address
// unset, both are derived from the SoC's serial number, which differs
// from board to board and is the same on every boot of one board.

// SerialFile is where the kernel shows the SoC serial number on a
// Raspberry Pi (from the firmware, via the device tree).
const SerialFile = "/proc/device-tree/serial-number"

// ReadSerial returns the serial number in path, cleaned (see
// CleanSerial); "" when there is none (a laptop, QEMU's virt machine).
func ReadSerial(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return CleanSerial(string(b))
}

// CleanSerial keeps the letters and digits of a serial number, in lower
// case: the device tree string ends in a NUL, and the name made from it
// must be a valid camera name and hostname.
func CleanSerial(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= '0' && r <= '9' || r >= 'a' && r <= 'z' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// SerialName is the name a board with this serial gets by default:
// "camwire-" and the serial's last six characters (the Pi's serial is 16
// hex digits whose upper half is zero on most boards).
func SerialName(serial string) string {
	if len(serial) > 6 {
		serial = serial[len(serial)-6:]
	}
	return "camwire-" + serial
}

// defaultSubnet is the camera subnet of the built-in address.
var defaultSubnet = netip.MustParsePrefix("192.168.77.0/24")

// SerialAddress is the address a board with this serial gets by default:
// a host of 192.168.77.0/24 picked by a hash of the serial, never .0,
// .1 (the receiver's default address, which the DHCP server offers the
// laptop), .255, nor any address in avoid (the receiver actually set).
// Two boards may still hash to one address; the ARP probe that runs
// while the address is claimed (netcfg) catches that.
func SerialAddress(serial string, avoid ...netip.Addr) netip.Prefix {
	h := fnv.New32a()
	h.Write([]byte(serial))
	base := defaultSubnet.Addr().As4()
	const first, hosts = 2, 253 // .2 … .254
	n := h.Sum32() % hosts
	for range hosts {
		a := base
		a[3] = byte(first + n)
		addr := netip.AddrFrom4(a)
		ok := true
		for _, av := range avoid {
			if av == addr {
				ok = false
			}
		}
		if ok {
			return netip.PrefixFrom(addr, defaultSubnet.Bits())
		}
		n = (n + 1) % hosts
	}
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{base[0], base[1], base[2], first}), defaultSubnet.Bits())
}

// derived sets the serial's defaults for the keys that have them.
func (c *Config) derived() {
	if c.Serial == "" {
		return
	}
	c.Name = SerialName(c.Serial)
	c.Address = SerialAddress(c.Serial)
}
