// Package bootreport gathers the camera's hardware report: the short
// plain-text account of one boot that camwire-init sends camwire-recv
// (wire.BootReport), so a user whose camera misbehaves has something to
// read and to send on without a screen or a serial cable on the Pi.
//
// Everything is read from files under injectable roots (Gatherer.Proc,
// Sys, Dev: /proc, /sys and /dev on the camera), so the tests run against
// fake trees. What only PID 1 saw — the modules it loaded and the errors,
// the boot partition, the address it claimed — comes from the Init file
// PID 1 writes before it starts the recorder (its child, which sends the
// report).
//
// The report's first line is a one-line summary (Report.Summary), which
// camwire-recv prints; the rest is for a person and has no fixed layout.
package bootreport

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"
)

// Module is one kernel module PID 1 tried to load.
type Module struct {
	Name string `json:"name"`
	Err  string `json:"err,omitempty"` // "" when it loaded
}

// Init is what PID 1 learned while booting that nobody else can read
// back from the kernel: which modules it tried and why one failed, why
// the boot partition is not mounted, what happened to the address. PID 1
// writes it to InitFile (WriteInit) and rewrites it when something
// changes; the recorder reads it when it builds the report.
type Init struct {
	Board   string   `json:"board"`             // PID 1's board name: "pi3", "qemu-virt" …
	Modules []Module `json:"modules,omitempty"` // in the order tried
	// Loading says PID 1 is still loading the drivers its first walk of
	// the devices matched (the coldplug runs beside the recorder):
	// Modules is not complete yet. WaitInit waits for it to end.
	Loading bool `json:"loading,omitempty"`
	// Unbound are devices the module loader found no driver for.
	Unbound []string `json:"unbound,omitempty"`
	// Boot says how the boot partition went: "mounted /dev/mmcblk0p1 on
	// /boot" or why not.
	Boot    string   `json:"boot"`
	BootOK  bool     `json:"boot_ok"`
	Network []string `json:"network,omitempty"` // address claims and conflicts, in order
	// Conflict is set when the configured or derived address was in use
	// by another host and PID 1 took another one.
	Conflict string `json:"conflict,omitempty"`
	// Faults are PID 1's own troubles, in words: a wait for the drivers
	// that ran out (naming the boot step), a panic in the coldplug.
	Faults []string `json:"faults,omitempty"`
}

// InitFile is where PID 1 leaves Init for the recorder (tmpfs /run).
const InitFile = "/run/camwire/init.json"

// WriteInit writes in to path atomically (a reader never sees half a
// file).
func WriteInit(path string, in Init) error {
	b, err := json.MarshalIndent(in, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ReadInit reads what WriteInit wrote.
func ReadInit(path string) (Init, error) {
	var in Init
	b, err := os.ReadFile(path)
	if err != nil {
		return in, err
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return in, fmt.Errorf("%s: %w", path, err)
	}
	return in, nil
}

// WaitInit reads path until its Init is no longer Loading, or until
// timeout; it returns the last Init read (Loading still set when it
// timed out). PID 1 rewrites the file when the coldplug's first pass
// ends; the file is on tmpfs, and a look every 50 ms costs nothing
// beside the recorder, so it is polled rather than watched (inotify).
func WaitInit(path string, timeout time.Duration) (Init, error) {
	deadline := time.Now().Add(timeout)
	for {
		in, err := ReadInit(path)
		if (err == nil && !in.Loading) || !time.Now().Before(deadline) {
			return in, err
		}
		time.Sleep(min(time.Until(deadline), 50*time.Millisecond))
	}
}

// Version is camwire's version as the Go toolchain stamped it into the
// binary: the module version, or the commit (and "+dirty" for a tree
// with changes) of a build from a checkout.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown (no build info)"
	}
	v := bi.Main.Version
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if v == "" || v == "(devel)" {
			return rev + dirty
		}
		return v + " " + rev + dirty
	}
	if v == "" {
		return "(devel)"
	}
	return v
}

// readString reads a small sysfs/procfs/device-tree file: NULs (device
// tree strings) and surrounding space trimmed; "" when it is missing.
func readString(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(strings.TrimRight(string(b), "\x00\n"))
}
