package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/camwire/camwire/recv"
)

// eventHandler is the log on a terminal without -v: one short line per
// event for a person ("garden: recording 14:05:00", "garden: 10:00 min,
// 1.2 GB saved"). A record says its line in the recv.ConsoleKey
// attribute; records without one are shown only when they are warnings
// or errors, as their message and attributes on one line. Debug and
// plain info records stay out: they are for a pipe, a service or -v,
// which get slog's full text lines instead.
type eventHandler struct {
	out   io.Writer
	mu    *sync.Mutex
	attrs []slog.Attr
}

func newEventHandler(out io.Writer) *eventHandler { return &eventHandler{out: out, mu: &sync.Mutex{}} }

func (h *eventHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h *eventHandler) Handle(_ context.Context, r slog.Record) error {
	var line string
	var kv []string
	add := func(a slog.Attr) bool {
		if a.Key == recv.ConsoleKey {
			line = a.Value.String()
			return true
		}
		switch a.Key {
		case "peer", "stream", "time":
			return true // for the full log; noise on a terminal
		}
		kv = append(kv, a.Key+"="+a.Value.String())
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	switch {
	case line != "":
	case r.Level >= slog.LevelWarn:
		level := "warning"
		if r.Level >= slog.LevelError {
			level = "error"
		}
		line = level + ": " + r.Message
		if len(kv) > 0 {
			line += " (" + strings.Join(kv, ", ") + ")"
		}
	default:
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := fmt.Fprintln(h.out, line)
	return err
}

func (h *eventHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &c
}

// WithGroup is not used by camwire's loggers; attributes stay flat.
func (h *eventHandler) WithGroup(string) slog.Handler { return h }
