package recorder

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/camwire/camwire/camconsole"
	"github.com/camwire/camwire/config"
	"github.com/camwire/camwire/netcfg"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// keepNetwork is camwire-init -network: the recorder keeps its wired
// link at the settings' address itself, with the ARP probe and the DHCP
// server, as PID 1 does on the Pi. It is for a recorder that owns its
// network namespace (tests with several cameras on one bridge) or a host
// where nothing else configures that link. Claims and conflicts go into
// the boot report.
func (r *Recorder) keepNetwork(ctx context.Context, c config.Config, log *slog.Logger) {
	m := netcfg.FromConfig(c)
	m.Logf = func(f string, a ...any) { log.Info("network: " + fmt.Sprintf(f, a...)) }
	m.OnClaim = func(a netip.Prefix, link, how string) {
		r.Note(fmt.Sprintf("network: %s claimed on %s %s", a, link, how))
	}
	m.OnConflict = func(cf netcfg.Conflict, next netip.Prefix) {
		r.printf(camconsole.ConflictPrefix+"%v; trying %s", &cf, next)
		r.Note(fmt.Sprintf("network: address conflict: %v; took %s instead", &cf, next))
	}
	if err := m.Run(ctx); err != nil {
		log.Error("network", "err", err)
	}
}

// redialOnNetwork calls redial whenever an address or a route appears
// (netlink events), until ctx ends. At boot the recorder starts before
// PID 1's network step has put the address on the link (it waits for the
// carrier first): the sender's dials fail with "network is unreachable"
// and its backoff grows, and this ends the pause the moment the network
// is there; so it does when an address conflict found by the ARP probe
// moves the camera to another address. An address that goes away is
// passed to gone: a connection made from it is dead. Without netlink
// the backoff and the ack timeout alone do.
func redialOnNetwork(ctx context.Context, redial func(), gone func(netip.Addr), log *slog.Logger) {
	addrs := make(chan netlink.AddrUpdate, 16)
	routes := make(chan netlink.RouteUpdate, 16)
	done := make(chan struct{})
	defer func() {
		close(done)
		// netlink's goroutines send until they see done: keep reading
		// so none blocks for good on a full channel.
		if addrs != nil {
			go func() {
				for range addrs {
				}
			}()
		}
		if routes != nil {
			go func() {
				for range routes {
				}
			}()
		}
	}()
	if err := netlink.AddrSubscribe(addrs, done); err != nil {
		log.Debug("network: no address events; reconnects wait for their backoff", "err", err)
		addrs = nil
		routes = nil
		return
	}
	if err := netlink.RouteSubscribe(routes, done); err != nil {
		log.Debug("network: no route events; reconnects wait for their backoff", "err", err)
		routes = nil
	}
	for {
		select {
		case <-ctx.Done():
			return
		case u, ok := <-addrs:
			if !ok {
				addrs = nil // closed: nothing left to drain
				return
			}
			if u.NewAddr {
				redial()
			} else if ip, ok := netip.AddrFromSlice(u.LinkAddress.IP); ok {
				gone(ip.Unmap())
			}
		case u, ok := <-routes:
			if !ok {
				routes = nil // closed: nothing left to drain
				continue
			}
			if u.Type == unix.RTM_NEWROUTE {
				redial()
			}
		}
	}
}
