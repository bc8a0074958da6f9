// Command camwire-image builds the SD card image (out/camwire.img) from
// Debian's arm64 kernel and Raspberry Pi firmware packages and a
// camwire-init binary (package image), fetches only the boot packages
// (package bootpkg), or runs the demo on QEMU (package demo). This file
// is the command line: flags, -set, and what to tell the user next.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/camwire/camwire/demo"
	"github.com/camwire/camwire/image"
	"github.com/camwire/camwire/image/bootpkg"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "camwire-image:", err)
		os.Exit(1)
	}
}

const usage = `usage:
  camwire-image fetch
      download (cached), verify and unpack the boot packages; print where
  camwire-image [flags] build
      write the SD card image
  camwire-image [flags] demo
      build a demo image (test picture; out/demo.img unless -o), run
      camwire-recv here and the image on QEMU's virt machine, record
      -record long, shut down, report

build flags:
`

// The images written when -o is not given. The demo has its own: its
// camwire.txt (test picture, QEMU's addresses) must never overwrite the
// user's real card image.
const (
	defaultImage     = "out/camwire.img"
	defaultDemoImage = "out/demo.img"
)

// run is camwire-image's whole command line, callable from tests.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return command{demo: demo.BuildAndRun}.run(ctx, args, stdout, stderr)
}

// command holds what the command line hands work to. demo is a field so
// tests see the options chosen without booting QEMU.
type command struct {
	demo func(ctx context.Context, o demo.Options, stdout, stderr io.Writer) error
}

func (c command) run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	fl := flag.NewFlagSet("camwire-image", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprint(stderr, usage); fl.PrintDefaults() }
	out := fl.String("o", defaultImage, "image file to write (demo: "+defaultDemoImage+")")
	initPath := fl.String("init", "out/camwire-init", "static linux/arm64 camwire-init binary (/init)")
	size := fl.Int64("size", image.DefaultDiskSize>>20, "image size in MiB, a power of two")
	gpuMem := fl.Int("gpu-mem", 128, "GPU memory in MiB (config.txt gpu_mem)")
	debug := fl.Bool("debug", false, "add u-root's core tools and a shell (/bin/gosh) to the initramfs, and set debug=yes")
	var sets, cmdline multiFlag
	fl.Var(&sets, "set", "camwire.txt setting `key=value` (repeatable); empty values are skipped")
	fl.Var(&cmdline, "cmdline", "extra kernel argument (repeatable)")
	recvPath := fl.String("recv", "out/camwire-recv", "demo: camwire-recv binary for this machine")
	demoDir := fl.String("dir", "", "demo: folder for the recordings (default: demo-recv beside -o)")
	record := fl.Duration("record", 20*time.Second, "demo: how long to record")
	if err := fl.Parse(args); err != nil {
		return err
	}
	switch fl.Arg(0) {
	case "fetch":
		p, err := bootpkg.FetcherFromEnv(logf).Fetch(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "kernel_version=%s\nkernel=%s\nkernel_root=%s\nfirmware_root=%s\n", p.KernelVersion, p.Kernel(), p.KernelRoot, p.FirmwareRoot)
		return nil
	case "build":
		init, err := os.ReadFile(*initPath)
		if err != nil {
			return fmt.Errorf("-init: %w (make init builds it)", err)
		}
		settings, err := parseSettings(sets, *debug)
		if err != nil {
			return err
		}
		r, err := image.Build(ctx, image.Options{
			Debug: *debug,
			Out:   *out,
			Init:  init,
			Size:  *size << 20,
			Boot:  image.BootOptions{Settings: settings, Cmdline: cmdline, GPUMem: *gpuMem},
			Log:   logf,
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %d MiB, kernel %s, initramfs %.1f MiB, built in %v\n",
			r.Image, *size, r.Parts.KernelVersion, float64(r.InitramfsSize)/(1<<20), r.Took.Round(1e7))
		fmt.Fprint(stdout, nextSteps(r.Image, r.ImageFiles[image.SettingsName]))
		return nil
	case "demo":
		img := defaultDemoImage
		fl.Visit(func(f *flag.Flag) {
			if f.Name == "o" {
				img = *out
			}
		})
		settings, err := parseSettings(sets, *debug)
		if err != nil {
			return err
		}
		return c.demo(ctx, demo.Options{Init: *initPath, Recv: *recvPath, Image: img, Dir: *demoDir,
			Record: *record, Settings: settings, Debug: *debug}, stdout, stderr)
	default:
		fl.Usage()
		return fmt.Errorf("unknown command %q", fl.Arg(0))
	}
}

// parseSettings turns -set key=value flags into camwire.txt settings.
// Empty values are skipped, so `make image NAME=` leaves the commented
// default; -debug adds debug=yes.
func parseSettings(sets []string, debug bool) (map[string]string, error) {
	settings := map[string]string{}
	for _, s := range sets {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("-set %q: want key=value", s)
		}
		if v != "" {
			settings[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	if debug {
		settings["debug"] = "yes"
	}
	return settings, nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }
