package coldplug

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/u-root/u-root/pkg/dt"
)

// DTNode is a device-tree node that the kernel turns into a device (or
// that one needs): the devices a board will have, known before it boots.
type DTNode struct {
	// Path is the node's full path, e.g. "/soc/mmc@7e340000".
	Path       string
	Compatible []string
	// Modaliases are the strings the kernel will show for the device:
	// "of:N<name>T<device_type>C<compatible>…", and for a node that
	// describes a USB device ("usb424,ec00", the Pi 3's Ethernet chip on
	// its hub) also the USB one its enumeration will report.
	Modaliases []string
	// Enabled is false for a node that is disabled (status, or a
	// disabled parent) but is referenced as a supplier.
	Enabled bool
	// SupplierOf is the path of the node whose phandle property led
	// here, when the node was reached that way (and not as an enabled
	// node of its own).
	SupplierOf string
}

// supplierCells maps phandle-list properties to the provider property
// that says how many argument cells follow each phandle (0 when the
// provider has none); "" means one phandle and nothing else.
var supplierCells = map[string]string{
	"clocks":                 "#clock-cells",
	"assigned-clocks":        "#clock-cells",
	"assigned-clock-parents": "#clock-cells",
	"resets":                 "#reset-cells",
	"power-domains":          "#power-domain-cells",
	"phys":                   "#phy-cells",
	"dmas":                   "#dma-cells",
	"mboxes":                 "#mbox-cells",
	"pwms":                   "#pwm-cells",
	"iommus":                 "#iommu-cells",
	"interrupts-extended":    "#interrupt-cells",
	"nvmem-cells":            "#nvmem-cell-cells",
	"gpios":                  "#gpio-cells",
	"interrupt-parent":       "",
	"mmc-pwrseq":             "",
	"firmware":               "",
}

// phandleProps is how a property refers to suppliers: its cells name and
// whether it is a phandle property at all.
func phandleProps(name string) (cells string, ok bool) {
	if c, ok := supplierCells[name]; ok {
		return c, true
	}
	switch {
	case strings.HasSuffix(name, "-supply"):
		return "", true
	case strings.HasSuffix(name, "-gpios"), strings.HasSuffix(name, "-gpio"):
		return "#gpio-cells", true
	case strings.HasPrefix(name, "pinctrl-") && name != "pinctrl-names":
		// Each entry is a pin configuration node (no arguments) under
		// the pin controller.
		return "", true
	}
	return "", false
}

// DeviceTreeNodes returns the nodes of a device tree whose drivers a
// board needs: every enabled node with a compatible (the root, which names
// the board, aside), and every node their phandle properties
// (*-supply, clocks, resets, power-domains, phys, …) refer to, with the
// nearest ancestor that has a compatible for nodes that have none (a pin
// group → its pin controller), and the same for those suppliers in turn.
// Order: enabled nodes in tree order, then suppliers as found.
func DeviceTreeNodes(root *dt.Node) []DTNode {
	type info struct {
		n       *dt.Node
		path    string
		parent  *dt.Node
		enabled bool
	}
	infos := map[*dt.Node]*info{}
	byPhandle := map[uint32]*dt.Node{}
	var order []*dt.Node
	var walk func(n, parent *dt.Node, path string, enabled bool)
	walk = func(n, parent *dt.Node, path string, enabled bool) {
		if st := stringList(n, "status"); len(st) > 0 {
			enabled = enabled && (st[0] == "okay" || st[0] == "ok")
		}
		infos[n] = &info{n: n, path: path, parent: parent, enabled: enabled}
		order = append(order, n)
		for _, name := range []string{"phandle", "linux,phandle"} {
			if p, ok := n.LookProperty(name); ok && len(p.Value) == 4 {
				byPhandle[binary.BigEndian.Uint32(p.Value)] = n
			}
		}
		for _, c := range n.Children {
			cp := strings.TrimSuffix(path, "/") + "/" + c.Name
			walk(c, n, cp, enabled)
		}
	}
	walk(root, nil, "/", true)

	compatible := func(n *dt.Node) []string { return stringList(n, "compatible") }
	var out []DTNode
	added := map[*dt.Node]bool{}
	var queue []*dt.Node
	add := func(n *dt.Node, supplierOf string) {
		if n == root || added[n] || len(compatible(n)) == 0 {
			return
		}
		added[n] = true
		in := infos[n]
		out = append(out, DTNode{
			Path: in.path, Compatible: compatible(n), Modaliases: nodeModaliases(n, compatible(n)),
			Enabled: in.enabled, SupplierOf: supplierOf,
		})
		queue = append(queue, n)
	}
	for _, n := range order {
		if infos[n].enabled {
			add(n, "")
		}
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, s := range suppliers(n, byPhandle) {
			// A pin group or a regulator's sub-node has no
			// compatible: its device is the nearest ancestor that
			// has one.
			for s != nil && s != root && len(compatible(s)) == 0 {
				s = infos[s].parent
			}
			if s != nil {
				add(s, infos[n].path)
			}
		}
	}
	return out
}

// suppliers decodes n's phandle properties into the nodes they name.
func suppliers(n *dt.Node, byPhandle map[uint32]*dt.Node) []*dt.Node {
	var out []*dt.Node
	for _, p := range n.Properties {
		cellsProp, ok := phandleProps(p.Name)
		if !ok || len(p.Value)%4 != 0 {
			continue
		}
		cells := make([]uint32, len(p.Value)/4)
		for i := range cells {
			cells[i] = binary.BigEndian.Uint32(p.Value[4*i:])
		}
		for i := 0; i < len(cells); {
			target, ok := byPhandle[cells[i]]
			i++
			if !ok {
				// A zero or dangling phandle (an empty slot in
				// a gpio list): skip this one cell.
				continue
			}
			out = append(out, target)
			if cellsProp != "" {
				if c, ok := target.LookProperty(cellsProp); ok {
					if v, err := c.AsU32(); err == nil {
						i += int(v)
					}
				}
			}
		}
	}
	return out
}

var usbCompatible = regexp.MustCompile(`^usb([0-9a-f]{1,4}),([0-9a-f]{1,4})$`)

// nodeModaliases is what the kernel's of_device_uevent_modalias prints
// for n: "of:N" name (without unit address) "T" device_type ("(null)"
// when absent, as Linux 6.1 prints it) then "C" and each compatible. A
// node for a USB device ("usbVID,PID", the binding in usb-device.yaml)
// also gets the modalias its USB interface will have once enumerated.
func nodeModaliases(n *dt.Node, compat []string) []string {
	name, _, _ := strings.Cut(n.Name, "@")
	typ := "(null)"
	if t := stringList(n, "device_type"); len(t) > 0 {
		typ = t[0]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "of:N%sT%s", name, typ)
	for _, c := range compat {
		b.WriteString("C" + c)
	}
	out := []string{b.String()}
	for _, c := range compat {
		if m := usbCompatible.FindStringSubmatch(c); m != nil {
			vid, _ := strconv.ParseUint(m[1], 16, 16)
			pid, _ := strconv.ParseUint(m[2], 16, 16)
			out = append(out, fmt.Sprintf("usb:v%04Xp%04Xd0000dc00dsc00dp00icFFisc00ip00in00", vid, pid))
		}
	}
	return out
}

// stringList reads a string or string-list property (NUL-terminated
// strings back to back). Written here because u-root's AsStringList
// panics on an empty value.
func stringList(n *dt.Node, name string) []string {
	p, ok := n.LookProperty(name)
	if !ok || len(p.Value) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(p.Value), "\x00"), "\x00")
}

// ofDeviceIDCompatible is the size of struct of_device_id's compatible
// field (char compatible[128]), which follows name[32] and type[32].
const ofDeviceIDCompatible = 128

// InKernelImage reports whether an uncompressed kernel Image (arm64
// "Image", Debian's vmlinuz) holds compat the way a built-in driver's
// of_match_table does: as an of_device_id entry, the string NUL-padded to
// its 128-byte field, after the 64 bytes of name and type. Built-in
// drivers do not appear in modules.alias (and Debian's
// modules.builtin.modinfo carries no of: aliases), so this is the
// evidence that the kernel itself drives a node. A string the code only
// compares against (of_machine_is_compatible) is packed among other
// strings, not padded, and does not count.
func InKernelImage(image []byte, compat string) bool {
	if compat == "" || len(compat) >= ofDeviceIDCompatible {
		return false
	}
	needle := []byte(compat)
	for off := 0; ; {
		i := bytes.Index(image[off:], needle)
		if i < 0 {
			return false
		}
		at := off + i
		off = at + 1
		end := at + ofDeviceIDCompatible
		if at < 1 || end > len(image) || image[at-1] != 0 {
			continue
		}
		if allZero(image[at+len(compat) : end]) {
			return true
		}
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
