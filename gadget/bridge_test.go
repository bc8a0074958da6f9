package gadget

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBridgePlan(t *testing.T) {
	mac := BridgeMAC("00000000deadbeef")
	other := BridgeMAC("0000000012345678")
	up := func(name string, master int) LinkState { return LinkState{Name: name, Master: master, Up: true} }
	down := func(name string, master int) LinkState { return LinkState{Name: name, Master: master} }
	members := []string{"usb0", "usb1"}
	for _, tc := range []struct {
		name    string
		bridge  *LinkState
		ports   map[string]LinkState
		want    []BridgeAction
		wantErr string
	}{
		{name: "first boot: make the bridge, join and raise both",
			ports: map[string]LinkState{"usb0": down("usb0", 0), "usb1": down("usb1", 0)},
			want: []BridgeAction{{BridgeAdd, "camwire0"}, {PortSetMaster, "usb0"}, {PortUp, "usb0"},
				{PortSetMaster, "usb1"}, {PortUp, "usb1"}}},
		{name: "already as wanted: nothing",
			bridge: &LinkState{Name: "camwire0", Type: "bridge", Index: 7, MAC: mac},
			ports:  map[string]LinkState{"usb0": up("usb0", 7), "usb1": up("usb1", 7)}},
		{name: "rebuilt gadget: new interfaces join the existing bridge",
			bridge: &LinkState{Name: "camwire0", Type: "bridge", Index: 7, MAC: mac},
			ports:  map[string]LinkState{"usb0": down("usb0", 0), "usb1": up("usb1", 7)},
			want:   []BridgeAction{{PortSetMaster, "usb0"}, {PortUp, "usb0"}}},
		{name: "port of another master is moved",
			bridge: &LinkState{Name: "camwire0", Type: "bridge", Index: 7, MAC: mac},
			ports:  map[string]LinkState{"usb0": up("usb0", 9), "usb1": up("usb1", 7)},
			want:   []BridgeAction{{PortSetMaster, "usb0"}}},
		{name: "bridge with another address gets its own back",
			bridge: &LinkState{Name: "camwire0", Type: "bridge", Index: 7, MAC: other},
			ports:  map[string]LinkState{"usb0": up("usb0", 7), "usb1": up("usb1", 7)},
			want:   []BridgeAction{{BridgeSetMAC, "camwire0"}}},
		{name: "name taken by a NIC",
			bridge:  &LinkState{Name: "camwire0", Type: "device", Index: 7, MAC: mac},
			ports:   map[string]LinkState{"usb0": up("usb0", 0), "usb1": up("usb1", 0)},
			wantErr: "camwire0 exists and is a device, not a bridge"},
		{name: "member missing",
			ports:   map[string]LinkState{"usb0": up("usb0", 0)},
			wantErr: "bridge camwire0: no interface usb1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := BridgePlan(BridgeName, mac, tc.bridge, members, tc.ports)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("BridgePlan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBridgeMAC(t *testing.T) {
	a, b := BridgeMAC("00000000deadbeef"), BridgeMAC("0000000012345678")
	if bytes.Equal(a, b) {
		t.Errorf("two serials share bridge MAC %s", a)
	}
	if !bytes.Equal(a, BridgeMAC("00000000deadbeef")) {
		t.Errorf("bridge MAC not stable")
	}
	if a[0]&1 != 0 || a[0]&2 == 0 {
		t.Errorf("bridge MAC %s is not unicast and locally administered", a)
	}
	for _, fn := range []string{"rndis", "ncm"} {
		dev, host := MACs("00000000deadbeef", fn)
		if bytes.Equal(a, dev) || bytes.Equal(a, host) {
			t.Errorf("bridge MAC %s equals %s's", a, fn)
		}
	}
}

func TestNetFunctions(t *testing.T) {
	for _, tc := range []struct {
		f    Functions
		want []string
	}{
		{AllFunctions, []string{"rndis", "ncm"}},
		{Functions{NCM: true, ACM: true}, []string{"ncm"}},
		{Functions{ACM: true}, nil},
	} {
		if diff := cmp.Diff(tc.want, tc.f.NetFunctions()); diff != "" {
			t.Errorf("%v.NetFunctions() (-want +got):\n%s", tc.f, diff)
		}
	}
}
