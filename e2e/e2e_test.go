package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/camwire/camwire/image"
	"github.com/camwire/camwire/image/bootpkg"
	"github.com/camwire/camwire/image/imagetest"
	"github.com/camwire/camwire/internal/qemu"
)

// board is a built image with its boot files extracted for -kernel etc.
type board struct {
	Image, Kernel, Initrd, DTB string
	Parts                      bootpkg.Parts
}

// buildImage builds an image with init as /init and extracts the kernel,
// initramfs and the Pi 3 B device tree from it.
func buildImage(t *testing.T, init []byte, boot image.BootOptions) board {
	t.Helper()
	imagetest.Require(t, qemu.Available())
	parts := imagetest.Parts(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r, err := image.Build(ctx, image.Options{Out: filepath.Join(dir, "camwire.img"), Init: init, Boot: boot, Log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	b := board{Image: r.Image, Parts: parts}
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"vmlinuz-" + parts.KernelVersion, &b.Kernel},
		{image.InitramfsName, &b.Initrd},
		{"bcm2837-rpi-3-b.dtb", &b.DTB},
	} {
		data, err := image.ReadDiskFile(r.Image, f.name)
		if err != nil {
			t.Fatal(err)
		}
		*f.dst = filepath.Join(dir, f.name)
		if err := os.WriteFile(*f.dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// console is a test log writer for the serial console.
type console struct{ t testing.TB }

func (c console) Write(b []byte) (int, error) {
	c.t.Log("console: " + strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func start(t *testing.T, ctx context.Context, c qemu.Config) *qemu.Machine {
	t.Helper()
	if testing.Verbose() {
		c.Console = console{t}
	}
	m, err := qemu.Start(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	// A failed boot is diagnosed from the whole console, not the few
	// lines an error quotes: keep it in the test's output (with -v the
	// lines were logged as they came). Registered after Close, so it
	// runs first, while the machine's lines are still there.
	t.Cleanup(func() {
		if !t.Failed() || testing.Verbose() {
			return
		}
		var b strings.Builder
		for _, l := range m.Lines() {
			fmt.Fprintf(&b, "\n%8.3f %s", l.At.Sub(m.Started).Seconds(), l.Text)
		}
		t.Logf("the whole console (seconds after QEMU started):%s", b.String())
	})
	return m
}

// TestVirtBootPath proves the image's boot path with a minimal init: the
// kernel from the image starts /init from the initramfs, u-root's kmodule
// loads the NIC modules through the initramfs's modules.dep, netlink sets
// the address from the kernel command line, and the guest reaches a
// listener on the host's loopback through QEMU's user network (10.0.2.2).
func TestVirtBootPath(t *testing.T) {
	init := imagetest.Init(t, "github.com/camwire/camwire/image/testdata/testinit")
	b := buildImage(t, init, image.BootOptions{})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		io.WriteString(c, "hello host\n")
		msg, _ := io.ReadAll(c)
		got <- string(msg)
	}()
	port := ln.Addr().(*net.TCPAddr).Port

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m := start(t, ctx, qemu.Config{
		Board: qemu.Virt, Kernel: b.Kernel, Initrd: b.Initrd,
		Append: "console=ttyAMA0 rdinit=/init panic=-1 quiet camwire.address=10.0.2.15/24 " +
			"camwire.receiver=10.0.2.2:" + strconv.Itoa(port) + " testinit.modules=virtio_pci,virtio_net",
	})
	var cur qemu.Cursor
	startLine, err := m.WaitFor(ctx, &cur, regexp.MustCompile(`^testinit: start`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.WaitFor(ctx, &cur, regexp.MustCompile(`^testinit: address 10\.0\.2\.15/24 on eth0`)); err != nil {
		t.Fatal(err)
	}
	done, err := m.WaitFor(ctx, &cur, regexp.MustCompile(`^testinit: (done|error)`))
	if err != nil {
		t.Fatal(err)
	}
	if done.Text != "testinit: done" {
		t.Fatalf("guest: %s", done.Text)
	}
	if msg := <-got; msg != "hello from testinit 10.0.2.15/24\n" {
		t.Errorf("host received %q, want the guest's hello", msg)
	}
	if err := m.Wait(ctx); err != nil {
		t.Errorf("qemu exit: %v", err)
	}
	t.Logf("qemu start → /init %v, /init → done %v", startLine.At.Sub(m.Started).Round(time.Millisecond), done.At.Sub(startLine.At).Round(time.Millisecond))
}

// TestDebugShell: with debug=yes in camwire.txt, a debug image's
// camwire-init keeps a shell on the serial console next to the recorder:
// u-root's tools on PATH, the boot partition mounted, and a new shell
// when the old one exits. The image is the virt machine's disk, so the
// setting comes from the card's camwire.txt as on a Pi.
func TestDebugShell(t *testing.T) {
	init := imagetest.Init(t, "github.com/camwire/camwire/cmd/camwire-init")
	imagetest.Require(t, qemu.Available())
	parts := imagetest.Parts(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute) // with the debug tools build (makebb), on a shared machine
	defer cancel()
	r, err := image.Build(ctx, image.Options{Out: filepath.Join(dir, "camwire.img"), Init: init, Debug: true, Log: t.Logf,
		Boot: image.BootOptions{Settings: map[string]string{"debug": "yes", "source": "testsrc", "address": "10.0.2.15/24"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("debug initramfs: %.1f MiB", float64(r.InitramfsSize)/(1<<20))
	kernel := filepath.Join(dir, "vmlinuz")
	initrd := filepath.Join(dir, "initrd")
	os.WriteFile(kernel, r.ImageFiles["vmlinuz-"+parts.KernelVersion], 0o644)
	os.WriteFile(initrd, r.ImageFiles[image.InitramfsName], 0o644)

	m := start(t, ctx, qemu.Config{Board: qemu.Virt, Kernel: kernel, Initrd: initrd, Disk: r.Image, Input: true,
		Append: "console=ttyAMA0 rdinit=/init panic=-1 quiet"})
	var cur qemu.Cursor
	if _, err := m.WaitFor(ctx, &cur, regexp.MustCompile(`^(\$ )?camwire: shell: /bin/gosh on /dev/ttyAMA0, pid \d+`)); err != nil {
		t.Fatal(err)
	}
	// ask types a command until its answer shows: the shell prints no
	// banner, input typed before it reads is lost, and the recorder's
	// lines share the console.
	ask := func(cmd string, answer *regexp.Regexp) {
		t.Helper()
		answered := make(chan struct{})
		defer close(answered)
		go func() {
			for {
				m.Type(cmd + "\n")
				select {
				case <-answered:
					return
				case <-time.After(time.Second):
				}
			}
		}()
		if _, err := m.WaitFor(ctx, &cur, answer); err != nil {
			t.Fatal(err)
		}
	}
	ask("echo shell-ok", regexp.MustCompile(`^(\$ )?shell-ok`))
	// PATH=/bin from camwire-init; /boot is the card's partition.
	ask("uname -m", regexp.MustCompile(`^(\$ )?aarch64`))
	ask("ls /lib/modules", regexp.MustCompile(regexp.QuoteMeta(parts.KernelVersion)))
	ask("grep ^debug= /boot/camwire.txt", regexp.MustCompile(`^(\$ )?debug=yes`))

	// exit: camwire-init reaps the shell and starts another.
	m.Type("exit\n")
	if _, err := m.WaitFor(ctx, &cur, regexp.MustCompile(`^(\$ )?camwire: shell: /bin/gosh on /dev/ttyAMA0, pid \d+`)); err != nil {
		t.Fatal(err)
	}
	ask("echo again-ok", regexp.MustCompile(`^(\$ )?again-ok`))
	// No zombie: the exited shell was reaped (state Z in /proc/PID/stat).
	from := cur
	ask("cat /proc/[0-9]*/stat; echo stat-done", regexp.MustCompile(`^(\$ )?stat-done$`))
	procs, zombie := 0, regexp.MustCompile(`^(\$ )?\d+ \(.*\) Z `)
	for _, l := range m.Lines()[from:cur] {
		if regexp.MustCompile(`^(\$ )?\d+ \(.*\) [A-Z] `).MatchString(l.Text) {
			procs++
		}
		if zombie.MatchString(l.Text) {
			t.Errorf("zombie after the shell exited: %s", l.Text)
		}
	}
	if procs < 3 {
		t.Errorf("read %d process states, want ≥ 3 (init, recorder, shell)", procs)
	}
}
