package config

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSerialDefaults(t *testing.T) {
	const serial = "00000000a1b2c3d4\x00" // as /proc/device-tree/serial-number has it
	derived := SerialAddress("00000000a1b2c3d4")
	tests := []struct {
		name     string
		file     string
		cmdline  string
		wantName string
		wantAddr netip.Prefix
		wantProb string
	}{
		{"nothing set", "", "", "camwire-b2c3d4", derived, ""},
		{"name set", "name=garden\n", "", "garden", derived, ""},
		{"address set", "address=192.168.77.50/24\n", "", "camwire-b2c3d4", netip.MustParsePrefix("192.168.77.50/24"), ""},
		{"bad name falls back to the derived one", "name=my cam\n", "", "camwire-b2c3d4", derived,
			`camwire.txt:1: name: "my cam" is not a usable name ("my cam" has byte 0x20; use letters, digits, '.', '_', '-'); using default camwire-b2c3d4`},
		{"bad address falls back to the derived one", "", "camwire.address=nowhere", "camwire-b2c3d4", derived,
			`cmdline: address: "nowhere" is not an IPv4 address with prefix length, like 192.168.77.2/24; using default ` + derived.String()},
		{"receiver on the derived address", "receiver=" + derived.Addr().String() + "\n", "", "camwire-b2c3d4",
			SerialAddress("00000000a1b2c3d4", derived.Addr()), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "camwire.txt")
			if err := os.WriteFile(file, []byte(tt.file), 0o644); err != nil {
				t.Fatal(err)
			}
			c, probs := Load(Layers{File: file, Cmdline: tt.cmdline, Serial: serial})
			got := fmt.Sprint(c.Name, " ", c.Address)
			want := fmt.Sprint(tt.wantName, " ", tt.wantAddr)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("name, address (-want +got):\n%s", diff)
			}
			var gotProb string
			for _, p := range probs {
				if p.Key == "name" || p.Key == "address" {
					gotProb = p.Error()
				}
			}
			if diff := cmp.Diff(tt.wantProb, gotProb); diff != "" {
				t.Errorf("problem (-want +got):\n%s", diff)
			}
			if c.Address.Addr() == netip.MustParseAddr("192.168.77.1") {
				t.Errorf("derived address %v is the receiver's default", c.Address)
			}
		})
	}
}

func TestNoSerialKeepsBuiltInDefaults(t *testing.T) {
	c, _ := Load(Layers{Serial: "\x00"})
	if got, want := fmt.Sprint(c.Name, " ", c.Address), "camwire 192.168.77.2/24"; got != want {
		t.Errorf("without a serial: %s, want %s", got, want)
	}
}

// TestSerialAddressSpread: 2000 serials give host addresses on the camera
// subnet, never .0, .1 or .255, and spread over most of it.
func TestSerialAddressSpread(t *testing.T) {
	seen := map[netip.Addr]bool{}
	for i := range 2000 {
		p := SerialAddress(fmt.Sprintf("%016x", 0x10000000+i*7919))
		a := p.Addr().As4()
		if !defaultSubnet.Contains(p.Addr()) || p.Bits() != 24 || a[3] < 2 || a[3] == 255 {
			t.Fatalf("SerialAddress = %v, want a host of 192.168.77.0/24 other than .0, .1, .255", p)
		}
		seen[p.Addr()] = true
	}
	if len(seen) < 240 {
		t.Errorf("2000 serials used %d of 253 addresses, want nearly all", len(seen))
	}
	if a, b := SerialName(CleanSerial("10000000a1b2c3d4")), SerialName(CleanSerial("10000000ffeedd01")); a == b {
		t.Errorf("two serials give one name %q", a)
	}
}

func TestReadSerial(t *testing.T) {
	p := filepath.Join(t.TempDir(), "serial-number")
	os.WriteFile(p, []byte("00000000A1B2C3D4\x00"), 0o444)
	if got := ReadSerial(p); got != "00000000a1b2c3d4" {
		t.Errorf("ReadSerial = %q", got)
	}
	if got := ReadSerial(p + ".missing"); got != "" {
		t.Errorf("ReadSerial(missing) = %q, want empty", got)
	}
}
