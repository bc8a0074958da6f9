package netcfg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"
	"github.com/vishvananda/netns"
)

// Probe is the timing of the address conflict check of RFC 5227
// (IPv4 Address Conflict Detection): wait a random time up to Wait, send
// Num ARP probes (sender address 0.0.0.0, so no host learns a mapping
// yet) Min to Max apart, then listen AnnounceWait more. Any ARP packet
// from another host that uses the address, or another host probing for
// it at the same time, is a conflict. Then two announcements tell the
// link the address is taken.
type Probe struct {
	Wait, Min, Max, AnnounceWait time.Duration
	Num                          int
}

// DefaultProbe keeps RFC 5227's three probes but shortens its seconds to
// a fraction: the camera's link is a cable to one laptop or a small
// switch, where every host answers ARP within milliseconds; RFC 5227's
// timing (1 s + 3 × 1–2 s + 2 s) would add up to 9 s to every boot. The
// check still takes 0.9–1.5 s, which is why the Manager claims
// optimistically by default (see Manager.ProbeFirst): the first frame
// does not wait for it.
var DefaultProbe = Probe{Wait: 200 * time.Millisecond, Min: 200 * time.Millisecond,
	Max: 400 * time.Millisecond, AnnounceWait: 500 * time.Millisecond, Num: 3}

// Conflict is another host found using (or probing for) an address.
type Conflict struct {
	Addr netip.Addr
	By   net.HardwareAddr
	How  string // "answered" or "probed for it too" (the claim's probe), "uses it too" (Defend)
}

func (c *Conflict) Error() string {
	return fmt.Sprintf("%s is in use: %s %s", c.Addr, c.By, c.How)
}

// arpConn is one raw ARP socket on a link. mdlayher/arp's Client is not
// used for the socket itself because it refuses an interface without an
// IPv4 address, and a probe is by definition sent before there is one;
// its Packet type still does the encoding.
type arpConn struct {
	ifi *net.Interface
	c   *packet.Conn
}

// listenARP opens the socket in ns (nil: the caller's namespace). The
// interface lookup and the socket both take the namespace of the thread
// that makes them.
func listenARP(ns *netns.NsHandle, ifname string) (*arpConn, error) {
	var ac *arpConn
	err := inNetns(ns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		c, err := packet.Listen(ifi, packet.Raw, int(ethernet.EtherTypeARP), nil)
		if err != nil {
			return fmt.Errorf("ARP socket on %s: %w", ifname, err)
		}
		ac = &arpConn{ifi: ifi, c: c}
		return nil
	})
	return ac, err
}

func (ac *arpConn) Close() error { return ac.c.Close() }

// send broadcasts an ARP request from sender (0.0.0.0 for a probe, the
// address itself for an announcement) for target.
func (ac *arpConn) send(sender, target netip.Addr) error {
	p, err := arp.NewPacket(arp.OperationRequest, ac.ifi.HardwareAddr, sender,
		net.HardwareAddr{0, 0, 0, 0, 0, 0}, target)
	if err != nil {
		return err
	}
	pb, err := p.MarshalBinary()
	if err != nil {
		return err
	}
	f := ethernet.Frame{Destination: ethernet.Broadcast, Source: ac.ifi.HardwareAddr,
		EtherType: ethernet.EtherTypeARP, Payload: pb}
	fb, err := f.MarshalBinary()
	if err != nil {
		return err
	}
	_, err = ac.c.WriteTo(fb, &packet.Addr{HardwareAddr: ethernet.Broadcast})
	return err
}

// watch reads ARP packets until the deadline and returns the first that
// shows another host on addr. Replies to resolve's requests (answers to
// a probe-style request for a neighbour: sender IP the neighbour's)
// fill found; once every neighbour in resolve has answered, a watch
// with stopResolved returns early.
func (ac *arpConn) watch(addr netip.Addr, until time.Time, resolve []netip.Addr,
	found map[netip.Addr]net.HardwareAddr, stopResolved bool) (*Conflict, error) {
	if err := ac.c.SetReadDeadline(until); err != nil {
		return nil, err
	}
	buf := make([]byte, 1500)
	for {
		if stopResolved && len(found) == len(resolve) {
			return nil, nil
		}
		n, _, err := ac.c.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		p, ok := ac.parse(buf[:n])
		if !ok {
			continue
		}
		switch {
		case p.SenderIP == addr:
			return &Conflict{Addr: addr, By: p.SenderHardwareAddr, How: "answered"}, nil
		case p.Operation == arp.OperationRequest && p.SenderIP.IsUnspecified() && p.TargetIP == addr:
			return &Conflict{Addr: addr, By: p.SenderHardwareAddr, How: "probed for it too"}, nil
		case p.Operation == arp.OperationReply && slices.Contains(resolve, p.SenderIP) && found != nil:
			if _, ok := found[p.SenderIP]; !ok {
				found[p.SenderIP] = slices.Clone(p.SenderHardwareAddr)
			}
		}
	}
}

// parse reads an ARP packet from another host out of an Ethernet
// frame: false for anything else (not ARP over Ethernet/IPv4, or our own
// packet seen going out).
func (ac *arpConn) parse(frame []byte) (arp.Packet, bool) {
	var f ethernet.Frame
	if f.UnmarshalBinary(frame) != nil || f.EtherType != ethernet.EtherTypeARP {
		return arp.Packet{}, false
	}
	var p arp.Packet
	if p.UnmarshalBinary(f.Payload) != nil || bytes.Equal(p.SenderHardwareAddr, ac.ifi.HardwareAddr) {
		return arp.Packet{}, false
	}
	return p, true
}

// ProbeAddr runs the RFC 5227 check for addr on the link ifname (in ns;
// nil: the caller's namespace) and returns a *Conflict error when another
// host has it. Other errors mean the check could not run.
func ProbeAddr(ctx context.Context, ns *netns.NsHandle, ifname string, addr netip.Addr, t Probe) error {
	return probe(ctx, ns, ifname, addr, t, nil, nil)
}

// resolveWait bounds how long an optimistic claim waits for its
// neighbours' answers before the address goes on, asking again every
// resolveEvery: on a cable a laptop answers within a millisecond when
// it is idle, but a loaded one can take tens (seen in the netns tests
// on a loaded machine); one without an address yet (it waits for our
// DHCP) never does, and then the address goes on without it.
const (
	resolveWait  = 200 * time.Millisecond
	resolveEvery = 50 * time.Millisecond
)

// probe is ProbeAddr with an optimistic claim when ready is set: first
// it asks for the link-layer address of each of resolve (the receiver,
// the gateway) with a request that does not name addr as its sender
// (like a probe, sender 0.0.0.0, which any host answers and none
// learns from), then it calls ready with the answers, which puts addr
// on the link and those neighbours in the kernel's table, and then
// probes as ProbeAddr does. With the neighbours known, the kernel does
// not broadcast ARP requests from addr to reach them while the probe
// runs, which would rewrite the caches of hosts that map addr to its
// true owner; it still answers requests for addr, unicast to the asker.
// The resolve phase counts towards the RFC's initial random wait, so
// the check takes no longer.
func probe(ctx context.Context, ns *netns.NsHandle, ifname string, addr netip.Addr, t Probe,
	resolve []netip.Addr, ready func(found map[netip.Addr]net.HardwareAddr)) error {
	ac, err := listenARP(ns, ifname)
	if err != nil {
		return err
	}
	defer ac.Close()
	stop := context.AfterFunc(ctx, func() { ac.c.SetReadDeadline(time.Now()) })
	defer stop()
	var found map[netip.Addr]net.HardwareAddr
	wait := func(d time.Duration, stopResolved bool) error {
		c, err := ac.watch(addr, time.Now().Add(d), resolve, found, stopResolved)
		if err == nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if c != nil {
			return c
		}
		return err
	}
	initial := randDur(0, t.Wait)
	if ready != nil {
		start := time.Now()
		found = map[netip.Addr]net.HardwareAddr{}
		for len(found) < len(resolve) && time.Since(start) < resolveWait {
			for _, n := range resolve {
				if _, ok := found[n]; ok {
					continue
				}
				if err := ac.send(netip.IPv4Unspecified(), n); err != nil {
					return fmt.Errorf("ARP request for %s: %w", n, err)
				}
			}
			if err := wait(min(resolveEvery, resolveWait-time.Since(start)), true); err != nil {
				return err
			}
		}
		ready(found)
		initial = max(0, initial-time.Since(start))
	}
	if err := wait(initial, false); err != nil {
		return err
	}
	for i := range max(t.Num, 1) {
		if err := ac.send(netip.IPv4Unspecified(), addr); err != nil {
			return fmt.Errorf("ARP probe %d: %w", i+1, err)
		}
		d := randDur(t.Min, t.Max)
		if i == max(t.Num, 1)-1 {
			d = t.AnnounceWait
		}
		if err := wait(d, false); err != nil {
			return err
		}
	}
	return nil
}

// Announce sends RFC 5227's two ARP announcements for addr, now ours,
// so hosts on the link update a stale mapping.
func Announce(ns *netns.NsHandle, ifname string, addr netip.Addr) error {
	ac, err := listenARP(ns, ifname)
	if err != nil {
		return err
	}
	defer ac.Close()
	for i := range 2 {
		if i > 0 {
			time.Sleep(100 * time.Millisecond) // spacing between the two, not a wait for an event
		}
		if err := ac.send(addr, addr); err != nil {
			return fmt.Errorf("ARP announcement: %w", err)
		}
	}
	return nil
}

func randDur(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + rand.N(hi-lo)
}
