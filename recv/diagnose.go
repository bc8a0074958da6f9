package recv

import (
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
)

// Interface is what the diagnosis needs to know about one network
// interface of the laptop.
type Interface struct {
	Name     string
	Up       bool
	Loopback bool
	Addrs    []netip.Prefix
}

// DefaultCameraNet is the subnet a camera uses on a direct cable: the
// camera is 192.168.77.2 and sends to the laptop at .1.
var DefaultCameraNet = netip.MustParsePrefix("192.168.77.0/24")

// HostInterfaces lists this machine's interfaces with net.Interfaces.
func HostInterfaces() ([]Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	out := make([]Interface, 0, len(ifs))
	for _, ifc := range ifs {
		i := Interface{Name: ifc.Name, Up: ifc.Flags&net.FlagUp != 0, Loopback: ifc.Flags&net.FlagLoopback != 0}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				ip, ok := netip.AddrFromSlice(n.IP)
				ones, _ := n.Mask.Size()
				if ok {
					i.Addrs = append(i.Addrs, netip.PrefixFrom(ip.Unmap(), ones))
				}
			}
		}
		out = append(out, i)
	}
	return out, nil
}

func (s *Server) diagnosis(listen net.Addr) string {
	list := s.Interfaces
	if list == nil {
		list = HostInterfaces
	}
	ifs, err := list()
	camNet := s.CameraNet
	if !camNet.IsValid() {
		camNet = DefaultCameraNet
	}
	after := s.DiagnoseAfter.Round(100_000_000)
	text := Diagnose(ifs, camNet, runtime.GOOS)
	if err != nil {
		text = fmt.Sprintf("  (cannot list network interfaces: %v)\n", err)
	}
	return fmt.Sprintf("\ncamwire-recv: no camera has connected in %v (listening on %s).\n%s\n", after, listen, text)
}

// Diagnose explains, for a human, whether this laptop can be reached by a
// camera on camNet, and the one command that fixes it on goos when not.
func Diagnose(ifs []Interface, camNet netip.Prefix, goos string) string {
	recvAddr := camNet.Addr().Next() // 192.168.77.1
	var b strings.Builder
	b.WriteString("Network interfaces of this computer:\n")
	var onNet []string
	candidate := ""
	for _, i := range ifs {
		state := "down"
		if i.Up {
			state = "up"
		}
		if i.Loopback {
			state = "loopback"
		}
		var addrs []string
		for _, a := range i.Addrs {
			addrs = append(addrs, a.String())
			if camNet.Contains(a.Addr()) {
				onNet = append(onNet, fmt.Sprintf("%s (%s)", i.Name, a))
			}
		}
		if len(addrs) == 0 {
			addrs = []string{"no address"}
		}
		fmt.Fprintf(&b, "  %-16s %-8s %s\n", i.Name, state, strings.Join(addrs, ", "))
		if candidate == "" && i.Up && !i.Loopback && !hasIPv4(i.Addrs) {
			candidate = i.Name // a cable with nothing on it: most likely the camera's
		}
	}
	if len(onNet) > 0 {
		fmt.Fprintf(&b, "On the camera's subnet %s: %s.\n", camNet, strings.Join(onNet, ", "))
		fmt.Fprintf(&b, "The camera sends to %s: check that this is that address, the cable is in, the camera is powered (its link light is on), and no firewall blocks TCP port 10401.\n", recvAddr)
		return b.String()
	}
	fmt.Fprintf(&b, "No interface is on the camera's subnet %s; the camera sends to %s.\n", camNet, recvAddr)
	iface := "IFACE"
	if candidate != "" {
		iface = candidate
	}
	bits := camNet.Bits()
	mask := net.IP(net.CIDRMask(bits, 32)).String()
	b.WriteString("Give the interface the camera is plugged into that address")
	if candidate == "" {
		b.WriteString(" (replace IFACE by its name from the list above)")
	}
	b.WriteString(":\n")
	switch goos {
	case "darwin":
		fmt.Fprintf(&b, "  sudo ifconfig %s alias %s/%d\n", iface, recvAddr, bits)
	case "windows":
		name := "Ethernet"
		if candidate != "" {
			name = candidate
		}
		fmt.Fprintf(&b, "  netsh interface ip set address \"%s\" static %s %s\n", name, recvAddr, mask)
	default:
		fmt.Fprintf(&b, "  sudo ip addr add %s/%d dev %s\n", recvAddr, bits, iface)
	}
	return b.String()
}

func hasIPv4(addrs []netip.Prefix) bool {
	for _, a := range addrs {
		if a.Addr().Is4() {
			return true
		}
	}
	return false
}
