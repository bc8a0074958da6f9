package recorder

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/camwire/camwire/camconsole"
	"github.com/camwire/camwire/config"
	"github.com/camwire/camwire/netcfg"
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
