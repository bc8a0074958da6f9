package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/camwire/camwire/recv"
)

func TestConsole(t *testing.T) {
	var out bytes.Buffer
	c := &console{Out: &out}
	t0 := time.Date(2026, 11, 24, 18, 0, 0, 0, time.UTC)
	st := recv.Status{Camera: "garden", Peer: "p", Mode: "framed", Since: t0, Bytes: 0, LastAck: 5, Gaps: 1}
	c.Update([]recv.Status{st}, t0.Add(time.Second))
	st.Bytes = 2_000_000
	c.Update([]recv.Status{st}, t0.Add(2*time.Second))
	io.WriteString(c, "a log line\n")
	got := out.String()
	for _, w := range []string{"garden", "16.0 Mbit/s", "00:00:02", "ack 5", "1 gaps", "a log line\n", "\x1b[1A\x1b[2K"} {
		if !strings.Contains(got, w) {
			t.Errorf("console output %q does not contain %q", got, w)
		}
	}
	// The log line is printed after clearing and before redrawing.
	if i, j := strings.LastIndex(got, "a log line"), strings.LastIndex(got, "garden"); i > j {
		t.Errorf("status line not redrawn below the log line: %q", got)
	}
}
