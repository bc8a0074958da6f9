package main

// -keep-for, -keep-size and -min-free: retention.Keeper over -dir, told
// which files must stay (what a camera may resume, what -upload has not
// confirmed) and which camera folders are in use.

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/camwire/camwire/recv"
	"github.com/camwire/camwire/retention"
)

type keepFlags struct{ keepFor, keepSize, minFree string }

// policy parses the three flags; all empty is the zero Policy (keep all).
func (f keepFlags) policy() (retention.Policy, error) {
	var p retention.Policy
	var err error
	if f.keepFor != "" {
		if p.KeepFor, err = retention.ParseAge(f.keepFor); err != nil {
			return p, fmt.Errorf("-keep-for: %w", err)
		}
	}
	if f.keepSize != "" {
		if p.KeepSize, err = retention.ParseSize(f.keepSize); err != nil {
			return p, fmt.Errorf("-keep-size: %w", err)
		}
	}
	if f.minFree != "" {
		if p.MinFree, err = retention.ParseSize(f.minFree); err != nil {
			return p, fmt.Errorf("-min-free: %w", err)
		}
	}
	return p, nil
}

// startKeeper starts retention when p limits anything (nil otherwise)
// and hooks it to srv: each finished file asks for a pass. pending is
// -upload's Pending, nil without -upload.
func startKeeper(ctx context.Context, p retention.Policy, srv *recv.Server, pending func(path string) bool, log *slog.Logger) (*retention.Keeper, error) {
	if p.Zero() {
		return nil, nil
	}
	if err := os.MkdirAll(srv.Dir, 0o755); err != nil {
		return nil, err
	}
	k := &retention.Keeper{
		Dir:        srv.Dir,
		Policy:     p,
		Logger:     log,
		CameraHold: retention.ResumableHold(recv.Resumable),
		InUse: func(folder string) bool {
			for _, st := range srv.Status() {
				if st.Camera == folder {
					return true
				}
			}
			return false
		},
	}
	// The log has a line per deleted file; a person at the terminal
	// gets one line per pass.
	k.OnDelete = func(done []retention.Deletion) {
		log.Info("retention: deleted recordings", "files", len(done), recv.ConsoleKey, retention.Summary(p, done))
	}
	if pending != nil {
		k.Holds = append(k.Holds, func(path string) string {
			if pending(path) {
				return "not uploaded yet"
			}
			return ""
		})
	}
	if err := k.Start(ctx); err != nil {
		return nil, err
	}
	prev := srv.OnFile
	srv.OnFile = func(camera, path string) {
		if prev != nil {
			prev(camera, path)
		}
		k.Check()
	}
	return k, nil
}
