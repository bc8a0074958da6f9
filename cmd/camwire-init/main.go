// Command camwire-init is the camera's whole userland. Started by the
// kernel as PID 1 it boots the Pi (package pid1) and supervises the
// recorder; started any other way it is only the recorder (package
// recorder), configured by flags named like the camwire.txt keys.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/camwire/camwire/bootreport"
	"github.com/camwire/camwire/config"
	"github.com/camwire/camwire/pid1"
	"github.com/camwire/camwire/recorder"
	"golang.org/x/sys/unix"
)

func main() {
	if os.Getpid() == 1 {
		(&pid1.Init{}).Run() // never returns
	}
	args := os.Args[1:]
	// PID 1 starts its recorder before the settings are read and hands
	// it its flags once they are (pid1.Supervisor.Settled).
	if held, ok, err := pid1.HeldArgs(); ok {
		if err != nil {
			os.Exit(exitCode(usageError{err: err}, os.Stderr))
		}
		args = held
	}
	os.Exit(exitCode(run(context.Background(), args, os.Stdout, os.Stderr), os.Stderr))
}

// run is camwire-init when it is not PID 1 — on a laptop for tests, as a
// service on Raspberry Pi OS, and as PID 1's supervised child on the
// camwire image. It reads flags named like the camwire.txt keys (-source,
// -receiver, -segment, -fps …, see package config), -config FILE, and
// -kernel-cmdline FILE (camwire.KEY=VALUE words, e.g. /proc/cmdline; PID 1
// passes it so the child sees the same settings it does). It records
// until SIGTERM or SIGINT (or ctx ends), drains and prints the summary
// line. A command line it cannot start from is a usageError.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
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
			return err
		}
		return usageError{err: err, shown: true} // flag printed it with the usage
	}
	if fs.NArg() > 0 {
		return usageError{err: fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	var cmdline string
	if *cmdlineFile != "" {
		b, err := os.ReadFile(*cmdlineFile)
		if err != nil {
			return usageError{err: err}
		}
		cmdline = string(b)
	}
	cfg, probs := config.Load(config.Layers{Cmdline: cmdline, Flags: flags, Serial: config.ReadSerial(*serialFile)})

	ctx, stop := signal.NotifyContext(ctx, unix.SIGTERM, unix.SIGINT)
	defer stop()
	level := slog.LevelInfo
	if cfg.Debug {
		level = slog.LevelDebug
	}
	r := &recorder.Recorder{
		Config:   cfg,
		Problems: probs,
		Out:      stdout,
		Logger:   slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
		Announce: os.Getenv("CAMWIRE_SUPERVISED") == "",
		Network:  *network,
	}
	if os.Getenv("CAMWIRE_SUPERVISED") != "" {
		// Under camwire's PID 1: its boot facts are in the init file,
		// and the report goes once per boot, not once per restart.
		r.Hardware.InitFile = bootreport.InitFile
		// PID 1 loads drivers beside the recorder; the report (sent
		// beside the video) waits for them, so a late failure is in it.
		r.Hardware.InitWait = time.Minute
		r.ReportMark = recorder.ReportMark
	}
	return r.Run(ctx)
}

// usageError is a command line the recorder cannot start from: exit
// status 2, as for the flag package's own errors. shown says the flag
// package has already printed it.
type usageError struct {
	err   error
	shown bool
}

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// exitCode is the process's exit status for run's error, printing the
// error first: 0 after a clean stop or -help, 1 when the recorder
// failed, 2 for a bad command line.
func exitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var u usageError
	if errors.As(err, &u) {
		if !u.shown {
			fmt.Fprintf(stderr, "camwire-init: %v\n", err)
		}
		return 2
	}
	fmt.Fprintf(stderr, "camwire-init: %v\n", err)
	return 1
}
