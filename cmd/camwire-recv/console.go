package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/camwire/camwire/recv"
)

// console shows a live status line per camera at the bottom of a
// terminal, with log lines scrolling above. Use it as the log handler's
// writer and call Run. On anything but a terminal use plain log lines
// instead (run checks with term.IsTerminal).
type console struct {
	Out io.Writer
	// Extra, if set, adds to a camera's line (RTSP publish and upload
	// state).
	Extra func(camera string) string

	mu    sync.Mutex
	lines []string // status lines on screen
	prev  map[string]sample
}

type sample struct {
	bytes uint64
	at    time.Time
	rate  float64 // bit/s
}

// Write prints log output above the status lines.
func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clear()
	n, err := c.Out.Write(p)
	c.draw()
	return n, err
}

func (c *console) clear() {
	if len(c.lines) > 0 {
		io.WriteString(c.Out, strings.Repeat("\x1b[1A\x1b[2K", len(c.lines)))
	}
}

func (c *console) draw() {
	for _, l := range c.lines {
		io.WriteString(c.Out, l+"\n")
	}
}

// Run redraws the status lines from srv every interval until ctx ends,
// then removes them.
func (c *console) Run(ctx context.Context, srv *recv.Server, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			c.mu.Lock()
			c.clear()
			c.lines = nil
			c.mu.Unlock()
			return
		case now := <-t.C:
			c.Update(srv.Status(), now)
		}
	}
}

// Update redraws the status lines for sts at time now.
func (c *console) Update(sts []recv.Status, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.prev == nil {
		c.prev = map[string]sample{}
	}
	next := map[string]sample{}
	lines := make([]string, 0, len(sts))
	for _, st := range sts {
		key := st.Peer
		s := sample{bytes: st.Bytes, at: now}
		if p, ok := c.prev[key]; ok && now.After(p.at) && st.Bytes >= p.bytes {
			s.rate = float64(st.Bytes-p.bytes) * 8 / now.Sub(p.at).Seconds()
		}
		next[key] = s
		line := formatStatus(st, s.rate, now)
		if c.Extra != nil {
			if x := c.Extra(st.Camera); x != "" {
				line += "  " + x
			}
		}
		lines = append(lines, line)
	}
	c.prev = next
	c.clear()
	c.lines = lines
	c.draw()
}

// formatStatus is one camera's status line, e.g.
//
//	garden-cam  16.2 Mbit/s  00:12:31  3 files  ack 11265  0 gaps
func formatStatus(st recv.Status, bitrate float64, now time.Time) string {
	d := now.Sub(st.Since).Round(time.Second)
	line := fmt.Sprintf("%-20s %6.1f Mbit/s  %02d:%02d:%02d  %d files  %s",
		st.Camera, bitrate/1e6, int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60, st.Files, humanBytes(st.Bytes))
	if st.Mode == "framed" {
		line += fmt.Sprintf("  ack %d  %d gaps", st.LastAck, st.Gaps)
	} else {
		line += "  raw"
	}
	if st.Error != "" {
		line += "  ERROR: " + st.Error
	}
	return line
}

func humanBytes(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%d KiB", n>>10)
	}
}
