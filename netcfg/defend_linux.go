package netcfg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// DefendInterval is RFC 5227's DEFEND_INTERVAL: a second conflict this
// soon after a defence means the other host will not give the address
// up.
const DefendInterval = 10 * time.Second

// Defend watches the link ifname (in ns; nil: the caller's namespace)
// for another host using addr after it became ours: RFC 5227 §2.4, its
// option (b). The probe only checks the moment of the claim; a laptop
// given the camera's address later (a DHCP server's pool, a static
// setting copied from another camera) would otherwise share it silently,
// each host's ARP answers rewriting the receiver's cache in turn and the
// stream breaking at every flip. The first packet from another host
// that names addr as its sender is answered with one announcement, which
// puts the other hosts' caches back (defended is told); a second within
// interval of that defence means the other host keeps using it, and
// Defend returns that Conflict. It returns nil, nil when ctx ends, and
// an error when it cannot watch (no packet socket) or its socket fails
// (the link went away).
func Defend(ctx context.Context, ns *netns.NsHandle, ifname string, addr netip.Addr, interval time.Duration,
	defended func(Conflict)) (*Conflict, error) {
	ac, err := listenARP(ns, ifname)
	if err != nil {
		return nil, err
	}
	defer ac.Close()
	return ac.defend(ctx, addr, interval, defended)
}

// defend is Defend on an open socket.
func (ac *arpConn) defend(ctx context.Context, addr netip.Addr, interval time.Duration, defended func(Conflict)) (*Conflict, error) {
	stop := context.AfterFunc(ctx, func() { ac.c.SetReadDeadline(time.Now()) })
	defer stop()
	var last time.Time // the last defence
	buf := make([]byte, 1500)
	for {
		n, _, err := ac.c.ReadFrom(buf)
		if ctx.Err() != nil {
			return nil, nil
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			continue
		}
		if err != nil {
			return nil, err
		}
		p, ok := ac.parse(buf[:n])
		if !ok || p.SenderIP != addr {
			continue
		}
		c := Conflict{Addr: addr, By: append(net.HardwareAddr(nil), p.SenderHardwareAddr...), How: "uses it too"}
		if !last.IsZero() && time.Since(last) < interval {
			return &c, nil
		}
		if err := ac.send(addr, addr); err != nil {
			return nil, err
		}
		last = time.Now()
		if defended != nil {
			defended(c)
		}
	}
}

// defence is one Defend of the claimed address: its link and address,
// and how to stop it. It stays in run.def after it ended on a conflict
// that left the address in place, or on an error, so reconcile does not
// start the same watch again at every netlink event.
type defence struct {
	key    string // link index and name, and address
	cancel context.CancelFunc
	done   chan struct{}
}

// defendResult is how a Defend ended, for Run's loop: on a conflict
// (c set) or on an error.
type defendResult struct {
	key string
	c   *Conflict
	err error
}

// defend keeps a Defend running for addr on link, replacing one for
// anything else. Its outcome comes to Run's loop (r.lost, then ended).
func (m *Manager) defend(ctx context.Context, r *run, link netlink.Link, addr netip.Addr) {
	a := link.Attrs()
	key := fmt.Sprintf("%d %s %s", a.Index, a.Name, addr)
	if r.def != nil && r.def.key == key {
		return
	}
	r.stopDefend()
	dctx, cancel := context.WithCancel(ctx)
	d := &defence{key: key, cancel: cancel, done: make(chan struct{})}
	r.def = d
	lost, name := r.lost, a.Name
	go func() {
		defer close(d.done)
		res := defendResult{key: key}
		ac, err := listenARP(m.Netns, name)
		if err == nil {
			m.logf("netcfg: watching %s for another host using %s (RFC 5227 2.4)", name, addr)
			res.c, res.err = ac.defend(dctx, addr, DefendInterval, func(c Conflict) {
				m.logf("netcfg: %v; defending %s with an announcement (RFC 5227 2.4)", &c, addr)
			})
			ac.Close()
		} else {
			res.err = err
		}
		if dctx.Err() != nil {
			return
		}
		select {
		case lost <- res:
		case <-dctx.Done():
		}
	}()
}

func (r *run) stopDefend() {
	if r.def == nil {
		return
	}
	r.def.cancel()
	<-r.def.done
	r.def = nil
}

// ended takes a Defend's end in Run's loop. An address another host
// kept using after a defence comes off the link and the next one is
// claimed with a probe, as after a conflict found by the claim's own
// probe; past maxConflicts it is kept, and no longer defended. An error
// (the link went away under the socket) is logged once for that link
// and address; the watch starts again when the link comes back as a new
// one (a new index) or the address changes.
func (m *Manager) ended(r *run, res defendResult) {
	if r.def == nil || r.def.key != res.key {
		return // a defence of an address since replaced
	}
	if res.c == nil {
		m.logf("netcfg: no longer watching %s for another host using %s: %v", r.probeOn, r.addr.Addr(), res.err)
		return
	}
	link, err := r.h.LinkByName(r.probeOn)
	if err != nil {
		m.logf("netcfg: %v; %v", res.c, err)
		return
	}
	if r.tries >= maxConflicts {
		m.logf("netcfg: %v; keeping it, after %d other addresses were taken too", res.c, r.tries)
		return
	}
	r.stopDefend()
	if err := r.h.AddrDel(link, &netlink.Addr{IPNet: ipNet(r.addr)}); err != nil {
		m.logf("netcfg: AddrDel %s on %s: %v", r.addr, r.probeOn, err)
	} else {
		m.logf("netcfg: took %s off %s", r.addr, r.probeOn)
	}
	m.moveOn(r, link, *res.c)
	r.claimed = false
}
