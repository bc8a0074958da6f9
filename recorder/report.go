package recorder

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/camwire/camwire/config"
	"github.com/camwire/camwire/sender"
)

// ReportMark is where the recorder PID 1 supervises notes that a
// receiver stored this boot's report (tmpfs: gone at the next boot), so
// a restarted recorder does not send it again.
const ReportMark = "/run/camwire/boot-report-stored"

// bootReport returns the sender's Report function, or nil when this
// boot's report was already stored (Recorder.ReportMark exists).
func (r *Recorder) bootReport(c config.Config) func() string {
	if r.ReportMark != "" {
		if _, err := os.Stat(r.ReportMark); err == nil {
			return nil
		}
	}
	return func() string {
		g := r.Hardware
		g.Name = c.Name
		for _, p := range r.Problems {
			g.Problems = append(g.Problems, p.Error())
		}
		if c.Serial != "" {
			g.Notes = append(g.Notes, fmt.Sprintf("SoC serial %s: unset name defaults to %s, unset address to %s",
				c.Serial, config.SerialName(c.Serial), config.SerialAddress(c.Serial)))
		}
		g.Notes = append(g.Notes, fmt.Sprintf("name=%s address=%s receiver=%s source=%s", c.Name, c.Address, c.Receiver, c.Source))
		r.mu.Lock()
		g.Notes = append(g.Notes, r.notes...)
		r.mu.Unlock()
		g.Video = c.Device
		g.VideoUsed = c.Source == config.SourceV4L2
		if g.Addrs == nil {
			g.Addrs = interfaceAddrs
		}
		return g.Gather().Text()
	}
}

// markReport waits until the receiver stored the report and leaves the
// mark, until ctx ends.
func (r *Recorder) markReport(ctx context.Context, s *sender.Sender, log *slog.Logger) {
	if r.ReportMark == "" {
		return
	}
	select {
	case <-s.ReportStored():
	case <-ctx.Done():
		return
	}
	if err := os.MkdirAll(filepath.Dir(r.ReportMark), 0o755); err == nil {
		err = os.WriteFile(r.ReportMark, nil, 0o644)
		if err != nil {
			log.Warn("boot report: cannot leave the mark; a restarted recorder sends it again", "err", err)
		}
	}
}

// interfaceAddrs lists an interface's addresses for the report.
func interfaceAddrs(name string) []string {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil
	}
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, a.String())
	}
	return out
}
