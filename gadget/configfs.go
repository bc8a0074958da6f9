package gadget

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// step is one write to configfs: a directory, an attribute or a link.
// Build is the list of steps, so what it does reads top to bottom.
type step struct {
	kind   byte // 'd' mkdir, 'w' write, 'l' symlink
	path   string
	value  string // the attribute's value; the link's target
	gadget string
}

func (s step) do() error {
	p := filepath.Join(s.gadget, s.path)
	switch s.kind {
	case 'd':
		if err := os.MkdirAll(p, 0o755); err != nil {
			return err
		}
	case 'w':
		if err := write(p, s.value); err != nil {
			return fmt.Errorf("%s = %q: %v", s.path, s.value, err)
		}
	case 'l':
		if err := os.Symlink(filepath.Join(s.gadget, s.value), p); err != nil {
			return err
		}
	}
	return nil
}

// steps is the gadget, in the order configfs needs it: the device
// descriptor and strings, each function with its attributes, the one
// configuration with the functions linked in (RNDIS first: Windows
// binds its OS descriptor to interface 0), then the Microsoft OS
// descriptor pointing at that configuration.
//
// One configuration, not one per host OS: Linux's usb_choose_configuration
// takes the RNDIS configuration when rndis_host is built (Debian's is),
// and macOS does not switch configurations, so two configurations would
// leave the NCM one unused. With one, each host binds the driver it has.
func (g *Gadget) steps() []step {
	d := g.dir()
	var st []step
	mk := func(p string) { st = append(st, step{kind: 'd', path: p, gadget: d}) }
	w := func(p, v string) { st = append(st, step{kind: 'w', path: p, value: v, gadget: d}) }
	ln := func(target, link string) { st = append(st, step{kind: 'l', path: link, value: target, gadget: d}) }

	f := g.Functions
	serial := g.Serial
	if serial == "" {
		serial = "0"
	}
	product := g.Product
	if product == "" {
		product = "camwire camera"
	}
	mk(".")
	w("idVendor", fmt.Sprintf("0x%04x", VendorID))
	w("idProduct", fmt.Sprintf("0x%04x", ProductID(f)))
	w("bcdDevice", "0x0100")
	w("bcdUSB", "0x0200")
	// Miscellaneous / common class / interface association: a composite
	// device whose functions are grouped by IADs, which Windows needs to
	// give RNDIS and ACM (two interfaces each) one driver each.
	w("bDeviceClass", "0xef")
	w("bDeviceSubClass", "0x02")
	w("bDeviceProtocol", "0x01")
	mk("strings/0x409")
	w("strings/0x409/manufacturer", "camwire")
	w("strings/0x409/product", product)
	w("strings/0x409/serialnumber", serial)

	netFn := func(kind string) string {
		name := kind + ".usb0"
		dev, host := MACs(g.Serial, kind)
		mk("functions/" + name)
		w("functions/"+name+"/dev_addr", dev.String())
		w("functions/"+name+"/host_addr", host.String())
		return name
	}
	// The Pi-side netdevs are registered when the functions bind, in
	// link order: RNDIS's is usb0, NCM's usb1 (IfName tells which).
	var ncm, rndis string
	if f.NCM {
		ncm = netFn("ncm")
	}
	if f.RNDIS {
		rndis = netFn("rndis")
		// Windows asks for the OS descriptor and binds rndis.inf to
		// what it names.
		mk("functions/" + rndis + "/os_desc/interface.rndis")
		w("functions/"+rndis+"/os_desc/interface.rndis/compatible_id", "RNDIS")
		w("functions/"+rndis+"/os_desc/interface.rndis/sub_compatible_id", "5162001")
	}
	var linked []string
	for _, n := range []string{rndis, ncm} {
		if n != "" {
			linked = append(linked, n)
		}
	}
	if f.ACM {
		mk("functions/acm.usb0")
		linked = append(linked, "acm.usb0")
	}

	mk("configs/c.1/strings/0x409")
	w("configs/c.1/strings/0x409/configuration", f.String())
	// 500 mA, the most USB 2 allows: a Zero 2 W with a camera draws
	// about that; asking for less would be a lie the host may enforce.
	w("configs/c.1/MaxPower", "500")
	w("configs/c.1/bmAttributes", "0x80") // bus powered
	for _, n := range linked {
		ln("functions/"+n, "configs/c.1/"+n)
	}
	if f.RNDIS {
		mk("os_desc")
		w("os_desc/use", "1")
		w("os_desc/b_vendor_code", "0xcd")
		w("os_desc/qw_sign", "MSFT100")
		ln("configs/c.1", "os_desc/c.1")
	}
	return st
}

// write writes one configfs attribute: a single write of the value with
// a newline, as echo does (configfs takes one write per open).
func write(p, v string) error {
	if !strings.HasSuffix(v, "\n") {
		v += "\n"
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(v)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// rmdir removes one configfs directory or link. On configfs the
// attributes and default groups (os_desc/interface.*) go with their
// directory; on a plain temporary tree (the tests) they are files and
// directories of their own, removed here first. Unlinking an attribute on
// configfs fails, so there the original error stands.
func rmdir(p string) error {
	err := os.Remove(p)
	if err == nil || os.IsNotExist(err) {
		return nil
	}
	if fakeErr := removeFake(p); fakeErr != nil {
		return err
	}
	return nil
}

func removeFake(p string) error {
	ents, err := os.ReadDir(p)
	if err != nil {
		return err
	}
	for _, e := range ents {
		c := filepath.Join(p, e.Name())
		if e.IsDir() {
			if err := removeFake(c); err != nil {
				return err
			}
			continue
		}
		if e.Type()&os.ModeSymlink != 0 {
			// A link left in a directory is a real error: it was
			// to be removed before its directory.
			return fmt.Errorf("%s is still linked", c)
		}
		if err := os.Remove(c); err != nil {
			return err
		}
	}
	return os.Remove(p)
}

// IfName is the Pi-side network interface of function fn ("ncm",
// "rndis") of a bound gadget, as the kernel named it at bind.
func (g *Gadget) IfName(fn string) (string, error) {
	b, err := os.ReadFile(filepath.Join(g.dir(), "functions", fn+".usb0", "ifname"))
	if err != nil {
		return "", fmt.Errorf("gadget: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}
