package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/camwire/camwire/image"
	"github.com/camwire/camwire/image/bootpkg"
	"github.com/camwire/camwire/image/dynlib"
	"github.com/camwire/camwire/image/imagetest"
	"github.com/camwire/camwire/internal/benchclip"
	"github.com/camwire/camwire/internal/guestbench"
	"github.com/camwire/camwire/internal/qemu"
	"github.com/camwire/camwire/recv"
)

// The guest benchmark sends benchclip.BFrames, the camera's kind
// (1080p30, 16 Mbit/s, B-frames, SPS/PPS before every keyframe as
// raspivid --inline writes them), once per round: 10 s, 20 MB, which TCG
// gets through in a few seconds a round.
const (
	guestRounds = 3
	// guestIcount: the guest's clock counts instructions (1 ns each, a
	// 1 GHz in-order core like the Pi 3's A53 at about one per cycle), so
	// the CPU time the guest charges a process is the work it did, not
	// how often this shared, loaded machine let the emulator run. Without
	// it, cat | nc's figure moved 320–650 ms-cpu/MB between rounds of one
	// boot; with it, 9.4–10.4.
	guestIcount = "shift=0,sleep=on"
)

// BenchmarkVirtSenderCPU is BenchmarkSenderCPU (cmd/camwire-init) on an
// emulated arm64 CPU, since the Pi cannot be timed here: QEMU virt (TCG,
// cortex-a53) boots an initramfs holding camwire-init, the clip and
// Debian's arm64 dash, coreutils and netcat-openbsd with their libraries;
// its PID 1 (internal/guestbench/guestinit) runs, alternating, camwire-
// init as a plain process (exec source "cat CLIP", into a receiver on
// this machine) and cat CLIP | nc -N (into a plain TCP sink here), and
// reports each one's CPU time as the guest's kernel accounted it (wait4
// rusage, the children sh, cat, sleep included). Rounds run in one boot;
// the figures are sums over them, the ratio's spread over the rounds is
// x-nc-cpu-min and -max.
func BenchmarkVirtSenderCPU(b *testing.B) {
	imagetest.Require(b, qemu.Available())
	parts := imagetest.Parts(b)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	dir := b.TempDir()
	clip, err := os.ReadFile(benchclip.Path(b, benchclip.BFrames))
	if err != nil {
		b.Fatal(err)
	}
	size := int64(len(clip))
	want, err := guestbench.Want(clip)
	if err != nil {
		b.Fatal(err)
	}
	files, err := guestFiles(ctx, b)
	if err != nil {
		imagetest.Require(b, err)
	}
	files[guestbench.Recorder[1:]] = imagetest.Init(b, camwireInit)
	files[guestbench.Clip[1:]] = clip
	initrd, err := image.Initramfs{
		Init:    imagetest.Init(b, "github.com/camwire/camwire/internal/guestbench/guestinit"),
		Parts:   parts,
		Modules: []image.Module{{Name: "virtio_pci"}, {Name: "virtio_net"}},
		Extra:   files,
	}.Build()
	if err != nil {
		b.Fatal(err)
	}
	initrdPath := filepath.Join(dir, "initrd")
	if err := os.WriteFile(initrdPath, initrd, 0o644); err != nil {
		b.Fatal(err)
	}

	ctrl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ctrl.Close()
	cfg := qemu.Config{Board: qemu.Virt, Kernel: parts.Kernel(), Initrd: initrdPath, Memory: 1024, Icount: guestIcount,
		Append: "console=ttyAMA0 rdinit=/init panic=-1 quiet " + guestbench.CmdlineKey + "=10.0.2.2:" + port(ctrl)}
	if testing.Verbose() {
		cfg.Console = console{b}
	}
	m, err := qemu.Start(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	h, err := accept(ctx, ctrl, m)
	if err != nil {
		b.Fatal(err)
	}
	mb := float64(size) / 1e6
	var cam, nc time.Duration
	var ratios []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for r := 0; r < guestRounds; r++ {
			c, err := guestCamwire(ctx, h, want)
			if err != nil {
				b.Fatalf("round %d: %v", r+1, err)
			}
			n, err := guestNC(h, size)
			if err != nil {
				b.Fatalf("round %d: %v", r+1, err)
			}
			b.Logf("round %d: camwire-init %.1f ms-cpu/MB, cat | nc %.1f ms-cpu/MB (%.2f×)", r+1,
				c.Seconds()*1e3/mb, n.Seconds()*1e3/mb, c.Seconds()/n.Seconds())
			cam += c
			nc += n
			ratios = append(ratios, c.Seconds()/n.Seconds())
		}
	}
	b.StopTimer()
	if err := h.Quit(); err != nil {
		b.Fatal(err)
	}
	if err := m.Wait(ctx); err != nil {
		b.Fatalf("qemu after power off: %v", err)
	}
	rounds := float64(b.N * guestRounds)
	b.ReportMetric(cam.Seconds()*1e3/rounds/mb, "ms-cpu/MB")
	b.ReportMetric(nc.Seconds()*1e3/rounds/mb, "ms-cpu/MB-nc")
	b.ReportMetric(cam.Seconds()/nc.Seconds(), "x-nc-cpu")
	b.ReportMetric(slices.Min(ratios), "x-nc-cpu-min")
	b.ReportMetric(slices.Max(ratios), "x-nc-cpu-max")
	b.ReportMetric(mb, "MB-clip")
}

// guestFiles are guestbench.Programs and the libraries they load, from
// Debian's arm64 packages: path in the initramfs → content.
func guestFiles(ctx context.Context, b *testing.B) (map[string][]byte, error) {
	pkgs, err := bootpkg.FetcherFromEnv(b.Logf).FetchPackages(ctx, guestbench.Packages...)
	if err != nil {
		return nil, err
	}
	var roots []string
	for _, p := range pkgs {
		roots = append(roots, p.Root)
	}
	files := map[string][]byte{}
	for dst, src := range guestbench.Programs {
		closure, err := dynlib.Closure(roots, src)
		if err != nil {
			return nil, err
		}
		for p, f := range closure {
			if p == src {
				p = dst
			}
			if files[p], err = os.ReadFile(f); err != nil {
				return nil, err
			}
		}
	}
	return files, nil
}

func port(ln net.Listener) string { return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port) }

// accept waits for the guest's control connection, or for the guest to
// end without one (its console says why).
func accept(ctx context.Context, ln net.Listener, m *qemu.Machine) (*guestbench.Host, error) {
	got := make(chan net.Conn, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			got <- c
		}
	}()
	exited := make(chan error, 1)
	go func() { exited <- m.Wait(ctx) }()
	select {
	case c := <-got:
		return guestbench.NewHost(c), nil
	case err := <-exited:
		return nil, fmt.Errorf("guest ended before it connected (%v); console:\n%s", err, lastLines(m, 30))
	case <-ctx.Done():
		return nil, fmt.Errorf("no control connection from the guest: %w; console:\n%s", ctx.Err(), lastLines(m, 30))
	}
}

func lastLines(m *qemu.Machine, n int) string {
	var s string
	ls := m.Lines()
	for _, l := range ls[max(len(ls)-n, 0):] {
		s += l.Text + "\n"
	}
	return s
}

// guestCamwire runs one camwire-init round into a fresh receiver.
func guestCamwire(ctx context.Context, h *guestbench.Host, want uint64) (time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	dir, err := os.MkdirTemp("", "guestbench-recv-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	srv := &recv.Server{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, ln) }()
	defer func() { stop(); <-served }()
	if err := h.StartCamwire("10.0.2.2:" + port(ln)); err != nil {
		return 0, err
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	if err := guestbench.WaitStored(wctx, srv, want); err != nil {
		h.StopCamwire()
		return 0, err
	}
	return h.StopCamwire()
}

// guestNC runs one cat | nc round into a fresh sink and checks it got
// the whole clip.
func guestNC(h *guestbench.Host, size int64) (time.Duration, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	sink := guestbench.NewSink(ln)
	defer sink.Close()
	d, err := h.NC("10.0.2.2:" + port(ln))
	if err != nil {
		return 0, err
	}
	if got := sink.Received(); !slices.Equal(got, []int64{size}) {
		return 0, fmt.Errorf("cat | nc: the sink received %v bytes, want one connection of %d", got, size)
	}
	return d, nil
}
