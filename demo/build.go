package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/camwire/camwire/image"
)

// Options are `camwire-image demo`'s inputs.
type Options struct {
	Init, Recv string // camwire-init (linux/arm64) and camwire-recv (this machine) binaries
	Image      string // the demo image to write, e.g. out/demo.img
	Dir        string // recordings; "" means demo-recv beside Image
	Record     time.Duration
	Settings   map[string]string // camwire.txt settings over the demo's own
	Debug      bool
}

// BuildAndRun builds an image whose camwire.txt makes it a camera of the test
// picture on QEMU's user network (10.0.2.15/24, receiver at the host's
// 10.0.2.2), then runs it with Run and prints the report. It
// fails when the recordings do not hold exactly the frames the camera
// captured.
func BuildAndRun(ctx context.Context, o Options, stdout, stderr io.Writer) error {
	init, err := os.ReadFile(o.Init)
	if err != nil {
		return fmt.Errorf("-init: %w (make init builds it)", err)
	}
	if _, err := os.Stat(o.Recv); err != nil {
		return fmt.Errorf("-recv: %w (make demo builds it)", err)
	}
	if o.Dir == "" {
		o.Dir = filepath.Join(filepath.Dir(o.Image), "demo-recv")
	}
	if err := qemuAvailable(); err != nil {
		return err
	}
	// The receiver first: the image is built for the port it got.
	rcv, err := listenRecv(o.Recv, o.Dir, stdout)
	if err != nil {
		return err
	}
	defer rcv.stop()
	_, port, _ := net.SplitHostPort(rcv.addr)
	settings := map[string]string{
		"name":     "demo",
		"source":   "testsrc",
		"address":  "10.0.2.15/24",
		"receiver": "10.0.2.2:" + port,
		"segment":  "5s",
	}
	for k, v := range o.Settings {
		settings[k] = v
	}
	if o.Debug {
		settings["debug"] = "yes"
	}
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	r, err := image.Build(ctx, image.Options{Out: o.Image, Init: init, Debug: o.Debug, Boot: image.BootOptions{Settings: settings}, Log: logf})
	if err != nil {
		return err
	}
	fmt.Fprintf(rcv.out, "demo | image %s (camwire.txt: name=demo source=testsrc address=10.0.2.15/24 receiver=10.0.2.2:%s segment=%s)\n",
		r.Image, port, settings["segment"])

	// QEMU boots the kernel and initramfs directly (virt has no Pi
	// firmware); the image is its disk, so the settings come from the
	// boot partition as on a Pi.
	tmp, err := os.MkdirTemp("", "camwire-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	kernel, initrd := filepath.Join(tmp, "vmlinuz"), filepath.Join(tmp, "initrd")
	if err := os.WriteFile(kernel, r.ImageFiles["vmlinuz-"+r.Parts.KernelVersion], 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(initrd, r.ImageFiles[image.InitramfsName], 0o644); err != nil {
		return err
	}
	fmt.Fprintf(rcv.out, "demo | camwire-recv on %s → %s; camera: qemu-system-aarch64 -M virt\n", rcv.addr, o.Dir)
	dc := Config{Kernel: kernel, Initrd: initrd, Disk: r.Image,
		Recv: o.Recv, Listen: rcv.addr, Dir: o.Dir, Record: o.Record, Out: stdout}
	if o.Debug {
		// The debug image's shell is on the serial console: what is
		// typed here goes there.
		dc.Stdin = os.Stdin
		fmt.Fprintf(rcv.out, "demo | debug image: type commands for the camera's shell (gosh), e.g. ps, ip a, dmesg\n")
	}
	rep, err := run(ctx, dc, rcv)
	if err != nil {
		return err
	}
	rep.Print(stdout, o.Dir)
	if !rep.OK() {
		return errors.New("demo: the recordings do not match what the camera captured")
	}
	return nil
}
