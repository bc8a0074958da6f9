package image

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/camwire/camwire/image/bootpkg"
)

// Options are one image build's inputs.
type Options struct {
	// Out is the image file to write, e.g. out/camwire.img.
	Out string
	// Init is the static linux/arm64 camwire-init binary.
	Init []byte
	// Size of the image in bytes, a power of two; zero means 128 MiB.
	Size int64
	// Boot are camwire.txt values, extra kernel arguments, GPU memory.
	Boot BootOptions
	// Debug adds u-root's core tools and a shell (/bin/bb, see
	// DebugCommands) to the initramfs.
	Debug bool
	// Fetcher gets the boot packages; nil means bootpkg.FetcherFromEnv.
	Fetcher *bootpkg.Fetcher
	// Log receives progress lines; nil discards.
	Log func(format string, args ...any)
}

// Result says what a build wrote.
type Result struct {
	Image         string
	Parts         bootpkg.Parts
	InitramfsSize int
	ImageFiles    map[string][]byte
	Took          time.Duration
}

// Build fetches the boot packages (cached), builds the initramfs and
// writes the SD card image.
func Build(ctx context.Context, o Options) (Result, error) {
	start := time.Now()
	logf := o.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	f := o.Fetcher
	if f == nil {
		f = bootpkg.FetcherFromEnv(logf)
	}
	parts, err := f.Fetch(ctx)
	if err != nil {
		return Result{}, err
	}
	ir := Initramfs{Init: o.Init, Parts: parts, Log: logf}
	if o.Debug {
		logf("image: building debug tools (u-root core, gosh)")
		bb, err := BuildDebugTools(ctx)
		if err != nil {
			return Result{}, err
		}
		ir.Extra = map[string][]byte{"bin/bb": bb}
		ir.Links = map[string]string{}
		for _, c := range DebugCommands {
			ir.Links["bin/"+c] = "bb"
		}
	}
	initramfs, err := ir.Build()
	if err != nil {
		return Result{}, err
	}
	files, err := BootFiles(parts, initramfs, o.Boot)
	if err != nil {
		return Result{}, err
	}
	size := o.Size
	if size == 0 {
		size = DefaultDiskSize
	}
	if err := os.MkdirAll(filepath.Dir(o.Out), 0o755); err != nil {
		return Result{}, err
	}
	tmp := o.Out + ".tmp"
	if err := WriteDisk(tmp, size, files); err != nil {
		os.Remove(tmp)
		return Result{}, err
	}
	if err := os.Rename(tmp, o.Out); err != nil {
		return Result{}, err
	}
	return Result{Image: o.Out, Parts: parts, InitramfsSize: len(initramfs), ImageFiles: files, Took: time.Since(start)}, nil
}

// BuildInit compiles a Go main package as a static linux/arm64 binary, the
// way camwire-init must be built to run as /init: no cgo (there is no libc
// in the initramfs), stripped.
func BuildInit(ctx context.Context, pkg string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "camwire-init-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "init")
	// -buildvcs=auto over whatever GOFLAGS says: the commit stamped into
	// the binary is the camwire version the boot report names.
	cmd := exec.CommandContext(ctx, goTool(), "build", "-buildvcs=auto", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return os.ReadFile(out)
}

func goTool() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(os.Getenv("GOROOT"), "bin", "go")
}
