package main

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

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

// On a terminal without -v the log is one short line per event: the
// ConsoleKey text when a record has one, warnings and errors as their
// message, and nothing else.
func TestEventHandler(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(newEventHandler(&out)).With("camera", "garden", "peer", "192.168.77.2:5000")
	log.Info("segment started", "file", "/rec/garden/x.mp4.partial", recv.ConsoleKey, "garden: recording 14:05:00")
	log.Info("camera stats", "captured", 5)
	log.Debug("noise")
	log.Warn("camera dropped records (gap)", "frames", 30)
	log.Error("cannot store", "err", "disk full")
	slog.New(newEventHandler(&out)).Info("deleted old recordings", recv.ConsoleKey, "deleted 3 files, 2.1 GB, older than 30 days")
	want := "garden: recording 14:05:00\n" +
		"warning: camera dropped records (gap) (camera=garden, frames=30)\n" +
		"error: cannot store (camera=garden, err=disk full)\n" +
		"deleted 3 files, 2.1 GB, older than 30 days\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("console (-want +got):\n%s", diff)
	}
}
