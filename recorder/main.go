package recorder

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"

	"github.com/camwire/camwire/config"
	"golang.org/x/sys/unix"
)

// Main is camwire-init when it is not PID 1 — on a laptop for tests, as a
// service on Raspberry Pi OS, and as PID 1's supervised child on the
// camwire image. It reads flags named like the camwire.txt keys (-source,
// -receiver, -segment, -fps …, see package config), -config FILE, and
// -kernel-cmdline FILE (camwire.KEY=VALUE words, e.g. /proc/cmdline; PID 1
// passes it so the child sees the same settings it does). It records
// until SIGTERM or SIGINT, drains and prints the summary line, and returns
// the exit status: 0 after a clean stop, 1 when the recorder failed, 2 for
// bad flags.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("camwire-init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	flags := config.RegisterFlags(fs)
	cmdlineFile := fs.String("kernel-cmdline", "", "also apply camwire.KEY=VALUE words from this file (e.g. /proc/cmdline), before the flags")
	network := fs.Bool("network", false, "also keep the wired link at the address (ARP probe, DHCP server) as PID 1 does; for a recorder in a network namespace of its own")
	serialFile := fs.String("serial-number", config.SerialFile, "SoC serial number file: unset name and address are derived from it (none: built-in defaults)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: camwire-init [flags]\n\n"+
			"As PID 1 it boots the camera. Otherwise it runs only the recorder:\n"+
			"capture → segments → camwire-recv, until SIGTERM or SIGINT.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "camwire-init: unexpected arguments %q\n", fs.Args())
		return 2
	}
	var cmdline string
	if *cmdlineFile != "" {
		b, err := os.ReadFile(*cmdlineFile)
		if err != nil {
			fmt.Fprintf(stderr, "camwire-init: %v\n", err)
			return 2
		}
		cmdline = string(b)
	}
	cfg, probs := config.Load(config.Sources{Cmdline: cmdline, Flags: flags, Serial: config.ReadSerial(*serialFile)})

	ctx, stop := signal.NotifyContext(ctx, unix.SIGTERM, unix.SIGINT)
	defer stop()
	level := slog.LevelInfo
	if cfg.Debug {
		level = slog.LevelDebug
	}
	r := &Recorder{
		Config:   cfg,
		Problems: probs,
		Out:      stdout,
		Logger:   slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
		Announce: os.Getenv("CAMWIRE_SUPERVISED") == "",
		Network:  *network,
	}
	if err := r.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "camwire-init: %v\n", err)
		return 1
	}
	return 0
}
