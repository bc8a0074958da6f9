package recv

import (
	"fmt"
	"time"
)

// ConsoleKey is the log attribute that carries an event's line for a
// person: camwire-recv's terminal console shows only that text (one
// short line per event, "garden: recording 14:05:00"), while a pipe, a
// service or -v get the full slog line. Any part of camwire-recv may log
// with it, e.g. retention:
//
//	log.Info("deleted old recordings", recv.ConsoleKey, "deleted 3 files, 2.1 GB, older than 30 days", …)
const ConsoleKey = "console"

// clockOf is a capture time as a person reads it on the laptop.
func clockOf(t time.Time) string { return t.Local().Format("15:04:05") }

// Size formats n bytes the way the console says them (1.2 GB, 340 MB).
func Size(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.0f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.0f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d bytes", n)
}

// minutes is d as m:ss min.
func minutes(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d min", int(d.Minutes()), int(d.Seconds())%60)
}
