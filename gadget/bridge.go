package gadget

import (
	"bytes"
	"fmt"
	"net"
)

// BridgeName is the bridge that joins the gadget's network functions
// (RNDIS's and NCM's Pi-side interfaces) into one link. netcfg manages
// one link, so without it only one function got the camera's address
// and the DHCP server: a Windows 10 laptop, whose driver picks RNDIS,
// would see a network card with no camera behind it. On the bridge the
// address and the DHCP server serve whichever function the laptop's
// driver picked.
const BridgeName = "camwire0"

// BridgeMAC is the bridge's address, derived from the serial like the
// functions' (MACs): set when the bridge is made, so it stays the same
// whichever ports join (a bridge otherwise takes its lowest port's) and
// the laptop's ARP cache and DHCP lease survive a reboot.
func BridgeMAC(serial string) net.HardwareAddr {
	dev, _ := MACs(serial, "bridge")
	return dev
}

// LinkState is what BridgePlan needs to know about one existing link.
type LinkState struct {
	Name   string
	Type   string // netlink's Link.Type(): "bridge", "device", ...
	Index  int
	Master int // index of the link this one is a port of, 0 if none
	Up     bool
	MAC    net.HardwareAddr
}

// BridgeActionKind is one netlink change.
type BridgeActionKind int

const (
	BridgeAdd     BridgeActionKind = iota // make the bridge with its MAC
	BridgeSetMAC                          // put the bridge's MAC back
	PortSetMaster                         // make Link a port of the bridge
	PortUp                                // bring Link up
)

// BridgeAction is one step of a BridgePlan.
type BridgeAction struct {
	Kind BridgeActionKind
	Link string
}

// BridgePlan returns the steps that make bridge (nil when it does not
// exist yet) the bridge named name with address mac and members as
// up ports. It is idempotent: a bridge already as wanted gives no
// steps, so PID 1 restarted or the step run twice changes nothing. A
// link of that name that is not a bridge, or a member that does not
// exist, is an error naming it.
func BridgePlan(name string, mac net.HardwareAddr, bridge *LinkState, members []string, ports map[string]LinkState) ([]BridgeAction, error) {
	var acts []BridgeAction
	switch {
	case bridge == nil:
		acts = append(acts, BridgeAction{BridgeAdd, name})
	case bridge.Type != "bridge":
		return nil, fmt.Errorf("gadget: %s exists and is a %s, not a bridge", name, bridge.Type)
	case !bytes.Equal(bridge.MAC, mac):
		acts = append(acts, BridgeAction{BridgeSetMAC, name})
	}
	for _, m := range members {
		p, ok := ports[m]
		if !ok {
			return nil, fmt.Errorf("gadget: bridge %s: no interface %s", name, m)
		}
		if bridge == nil || p.Master != bridge.Index {
			acts = append(acts, BridgeAction{PortSetMaster, m})
		}
		if !p.Up {
			acts = append(acts, BridgeAction{PortUp, m})
		}
	}
	return acts, nil
}
