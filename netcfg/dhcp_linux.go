package netcfg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"

	"github.com/camwire/camwire/internal/backoff"
)

// startDHCP starts the DHCP loop on ifname once, if the mode asks for
// it and the addresses allow it.
func (m *Manager) startDHCP(ctx context.Context, r *run, ifname string) {
	if m.DHCP == "" || m.DHCP == DHCPOff {
		return
	}
	if r.dhcpCancel != nil && r.dhcpIf == ifname {
		return
	}
	r.stopDHCP()
	l, err := newLease(m.Address, m.Offer, m.Lease)
	if err != nil {
		if msg := "not serving: " + err.Error(); msg != r.dhcpErr {
			r.dhcpErr = msg
			m.logf("dhcp: %s", msg)
			m.report(false, msg)
		}
		return
	}
	dctx, cancel := context.WithCancel(ctx)
	r.dhcp, r.dhcpIf, r.dhcpCancel, r.dhcpDone = l, ifname, cancel, make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		m.serveDHCP(dctx, ifname, l)
	}(r.dhcpDone)
}

// stopDHCP ends the DHCP loop and waits until its socket is closed.
func (r *run) stopDHCP() {
	if r.dhcpCancel == nil {
		return
	}
	r.dhcpCancel()
	<-r.dhcpDone
	r.dhcp, r.dhcpIf, r.dhcpCancel, r.dhcpDone = nil, "", nil, nil
}

func (m *Manager) report(serving bool, why string) {
	if m.OnDHCP != nil {
		m.OnDHCP(serving, why)
	}
}

// serveDHCP is the DHCP loop: in auto mode, probe for another server and
// serve only while none answers, probing again every ProbeInterval; in
// on mode, serve until ctx ends.
func (m *Manager) serveDHCP(ctx context.Context, ifname string, l *lease) {
	interval := m.ProbeInterval
	if interval <= 0 {
		interval = 30 * time.Second
	}
	last := ""
	say := func(serving bool, why string) {
		if why != last {
			last = why
			m.logf("dhcp: %s", why)
			m.report(serving, why)
		}
	}
	wait := func() bool { return backoff.Sleep(ctx, interval) }
	// foreign probes and reports; true means someone else serves (or
	// we could not tell), so we must not.
	foreign := func() bool {
		if m.DHCP != DHCPAuto {
			return false
		}
		other, err := m.probe(ctx, ifname, l.server)
		switch {
		case ctx.Err() != nil:
			return true
		case err != nil:
			say(false, fmt.Sprintf("not serving on %s: cannot probe for other DHCP servers: %v", ifname, err))
			return true
		case other.IsValid():
			say(false, fmt.Sprintf("not serving on %s: the DHCP server %s answers there", ifname, other))
			return true
		}
		return false
	}

	for ctx.Err() == nil {
		if foreign() {
			if !wait() {
				return
			}
			continue
		}
		gate := &handlerGate{}
		srv, err := m.listen(ifname, l, gate)
		if err != nil {
			say(false, fmt.Sprintf("not serving on %s: %v", ifname, err))
			if !wait() {
				return
			}
			continue
		}
		stopped := make(chan error, 1)
		go func() { stopped <- srv.Serve() }()
		say(true, fmt.Sprintf("serving %s to the laptop on %s", l.offer, ifname))
		var recheck <-chan time.Time
		t := time.NewTicker(interval)
		if m.DHCP == DHCPAuto {
			recheck = t.C
		}
		dead := false
	serving:
		for {
			select {
			case <-ctx.Done():
				break serving
			case err := <-stopped:
				m.logf("dhcp: server on %s stopped: %v", ifname, err)
				dead = true
				break serving
			case <-recheck:
				if foreign() {
					break serving
				}
			}
		}
		t.Stop()
		srv.Close()
		if !dead {
			<-stopped
		}
		gate.close()
		if dead && !wait() {
			return
		}
	}
}

// listen opens the server socket (UDP 67, bound to ifname) in the
// Manager's namespace.
// server4 starts a goroutine per packet; each holds gate.mu for reading
// while it works, and gate.closed turns late ones away, so stop can wait
// for them and no log line arrives after Run has returned.
func (m *Manager) listen(ifname string, l *lease, gate *handlerGate) (*server4.Server, error) {
	handler := func(conn net.PacketConn, peer net.Addr, req *dhcpv4.DHCPv4) {
		gate.mu.RLock()
		defer gate.mu.RUnlock()
		if gate.closed {
			return
		}
		resp, msg := l.reply(req)
		if msg != "" {
			m.logf("%s", msg)
		}
		if resp == nil {
			return
		}
		if _, err := conn.WriteTo(resp.ToBytes(), peer); err != nil {
			m.logf("dhcp: send %s to %v: %v", resp.MessageType(), peer, err)
		}
	}
	var srv *server4.Server
	err := inNetns(m.Netns, func() error {
		var err error
		srv, err = server4.NewServer(ifname, &net.UDPAddr{Port: dhcpv4.ServerPort}, handler)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen on %s port %d: %v", ifname, dhcpv4.ServerPort, err)
	}
	return srv, nil
}

// handlerGate lets the DHCP loop wait for the server's handlers.
type handlerGate struct {
	mu     sync.RWMutex
	closed bool
}

// close waits for running handlers and turns later ones away.
func (g *handlerGate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// probe sends one DHCPDISCOVER out of ifname and returns the server
// identifier of the first OFFER that is not ours, or the zero Addr when
// none came within ProbeTimeout.
func (m *Manager) probe(ctx context.Context, ifname string, ours net.IP) (netip.Addr, error) {
	timeout := m.ProbeTimeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	var c *nclient4.Client
	err := inNetns(m.Netns, func() error {
		var err error
		c, err = nclient4.New(ifname, nclient4.WithTimeout(timeout/2), nclient4.WithRetry(2))
		return err
	})
	if err != nil {
		return netip.Addr{}, err
	}
	defer c.Close()
	disc, err := dhcpv4.NewDiscovery(c.InterfaceAddr())
	if err != nil {
		return netip.Addr{}, err
	}
	notOurs := func(p *dhcpv4.DHCPv4) bool {
		sid := p.ServerIdentifier()
		return sid == nil || !sid.Equal(ours)
	}
	offer, err := c.SendAndRead(ctx, nclient4.DefaultServers, disc,
		nclient4.IsAll(nclient4.IsMessageType(dhcpv4.MessageTypeOffer), notOurs))
	if errors.Is(err, nclient4.ErrNoResponse) {
		return netip.Addr{}, nil
	}
	if err != nil {
		return netip.Addr{}, err
	}
	from := offer.ServerIdentifier()
	if from == nil {
		from = offer.ServerIPAddr
	}
	a, ok := netip.AddrFromSlice(from.To4())
	if !ok || !a.IsValid() || a.IsUnspecified() {
		// Someone answered but did not say who; still someone.
		a = netip.IPv4Unspecified()
	}
	return a, nil
}
