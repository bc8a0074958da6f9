package gadget

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/camwire/camwire/internal/testkit"
)

// TestBridgeNetns runs Bridge with real netlink in a network namespace
// made for the test (veth pairs stand in for the gadget's interfaces):
// the bridge is made with its MAC, the members become up ports, and a
// second run changes nothing. It needs root and a kernel with bridges;
// where the kernel has none it skips, and e2e's TestVirtGadget runs the
// same code on the image's kernel.
func TestBridgeNetns(t *testing.T) {
	ns := testNetns(t)
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "probe0"}}); err != nil {
		t.Skipf("this kernel makes no bridges: %v", err)
	}
	members := []string{"usb0", "usb1"}
	for i, m := range members {
		if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: m}, PeerName: fmt.Sprintf("peer%d", i)}); err != nil {
			t.Fatalf("LinkAdd veth %s: %v", m, err)
		}
	}
	mac := BridgeMAC("00000000deadbeef")
	for run := 1; run <= 2; run++ {
		if err := Bridge(h, BridgeName, mac, members); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		br, err := h.LinkByName(BridgeName)
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if br.Type() != "bridge" || !bytes.Equal(br.Attrs().HardwareAddr, mac) {
			t.Errorf("run %d: %s is a %s with MAC %s, want a bridge with %s", run, BridgeName, br.Type(), br.Attrs().HardwareAddr, mac)
		}
		for _, m := range members {
			l, err := h.LinkByName(m)
			if err != nil {
				t.Fatal(err)
			}
			a := l.Attrs()
			if a.MasterIndex != br.Attrs().Index || a.Flags&net.FlagUp == 0 {
				t.Errorf("run %d: %s master %d up %v, want master %d and up", run, m, a.MasterIndex, a.Flags&net.FlagUp != 0, br.Attrs().Index)
			}
		}
	}
	if err := Bridge(h, "usb0", mac, []string{"usb1"}); err == nil {
		t.Errorf("Bridge onto the veth usb0: no error")
	}
}

// testNetns makes an empty network namespace, destroyed when the test ends.
func testNetns(t *testing.T) netns.NsHandle { return testkit.NewNetns(t) }

// TestBridgeUndo: a member that cannot be a port (the loopback: the
// kernel refuses it) fails Bridge after the first member joined; the
// partial bridge is undone, so the first member, the fallback link, is
// a port of nothing and the bridge this run made is gone.
func TestBridgeUndo(t *testing.T) {
	ns := testNetns(t)
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "probe0"}}); err != nil {
		t.Skipf("this kernel makes no bridges: %v", err)
	}
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "usb1"}, PeerName: "peer1"}); err != nil {
		t.Fatalf("LinkAdd veth: %v", err)
	}
	err = Bridge(h, BridgeName, BridgeMAC("00000000deadbeef"), []string{"usb1", "lo"})
	if err == nil || !strings.Contains(err.Error(), "LinkSetMaster lo") {
		t.Fatalf("Bridge with lo = %v, want the LinkSetMaster lo error", err)
	}
	l, err := h.LinkByName("usb1")
	if err != nil {
		t.Fatal(err)
	}
	if m := l.Attrs().MasterIndex; m != 0 {
		t.Errorf("usb1 is still a port of link %d after the failed Bridge", m)
	}
	if _, err := h.LinkByName(BridgeName); err == nil {
		t.Errorf("%s is still there after the failed Bridge", BridgeName)
	}
}
