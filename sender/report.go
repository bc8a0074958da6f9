package sender

import (
	"sync"

	"github.com/camwire/camwire/wire"
)

// The boot report (wire.BootReport) goes to the receiver once per run:
// after the Welcome of the first connection to a receiver that speaks
// protocol 1.1, and again on every later connection until the receiver
// answers ReportStored. It is not sequenced, so it never delays or
// displaces video, and an old receiver is never sent it. Config.Report
// runs on a goroutine of its own, started at that first Welcome: it
// reads the machine (slow on a slow board) and may wait for PID 1 to
// finish loading drivers, and the first frames go out meanwhile.

// report is the sender's boot report state.
type report struct {
	once   sync.Once
	text   string        // Config.Report's result; set before ready closes
	ready  chan struct{} // closed when text is set
	stored chan struct{} // closed by ReportStored
	done   sync.Once
	file   string // where the receiver stored it
}

// minReportMinor is the receiver minor version that knows BootReport.
const minReportMinor = 1

// reportFor returns the report to send on a connection whose receiver
// announced minor, if one is due: configured, not stored yet, not sent
// on this connection already (sent is the connection's flag), and
// gathered. The first call starts the gathering and returns nothing;
// the writer is poked when the report is ready.
func (s *Sender) reportFor(minor uint8, sent *bool) (wire.BootReport, bool) {
	if s.cfg.Report == nil || *sent || minor < minReportMinor {
		return wire.BootReport{}, false
	}
	select {
	case <-s.rep.stored:
		return wire.BootReport{}, false
	default:
	}
	// Gathered now, not at New: the link is up and the receiver reached,
	// which is part of what the report says.
	s.rep.once.Do(func() {
		go func() {
			s.rep.text = s.cfg.Report()
			close(s.rep.ready)
			s.poke()
		}()
	})
	select {
	case <-s.rep.ready:
	default:
		return wire.BootReport{}, false
	}
	*sent = true
	return wire.BootReport{Text: s.rep.text}, true
}

// reportStored handles the receiver's ReportStored.
func (s *Sender) reportStored(file string) {
	s.rep.done.Do(func() {
		s.rep.file = file
		close(s.rep.stored)
		s.log.Info("receiver stored the boot report", "file", file)
	})
}

// ReportStored is closed once a receiver has stored the boot report
// (never when Config.Report is nil).
func (s *Sender) ReportStored() <-chan struct{} { return s.rep.stored }
