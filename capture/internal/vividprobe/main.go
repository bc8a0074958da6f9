// Command vividprobe is the /init of a throw-away QEMU guest that checks
// the V4L2 source against a real kernel: it loads the vivid test driver,
// streams from its capture node with capture.ProbeV4L2 and capture.V4L2
// (raw YUYV; vivid has no H.264), checks that H.264 is refused with a
// clear error, prints one result line per check and powers off.
// capture's TestV4L2OnVivid boots it and reads the lines.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/u-root/u-root/pkg/kmodule"
	"golang.org/x/sys/unix"

	"github.com/camwire/camwire/capture"
	"github.com/camwire/camwire/segment"
)

func main() {
	defer unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	if err := run(); err != nil {
		fmt.Println("VIVID FAIL", err)
	}
	fmt.Println("VIVID DONE")
}

func run() error {
	for _, m := range []struct{ src, dir, typ string }{{"devtmpfs", "/dev", "devtmpfs"}, {"sysfs", "/sys", "sysfs"}, {"proc", "/proc", "proc"}} {
		os.MkdirAll(m.dir, 0o755)
		if err := unix.Mount(m.src, m.dir, m.typ, 0, ""); err != nil {
			return fmt.Errorf("mount %s: %w", m.dir, err)
		}
	}
	p, err := kmodule.NewProber(kmodule.ProbeOpts{})
	if err != nil {
		return fmt.Errorf("modules: %w", err)
	}
	if err := p.Probe("vivid", ""); err != nil {
		return fmt.Errorf("load vivid: %w", err)
	}
	dev, err := findNode("vivid-000-vid-cap")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// 1. ProbeV4L2 in the device's own format.
	before := capture.Monotonic()
	ts, err := capture.ProbeV4L2(ctx, dev, 10)
	if err != nil {
		fmt.Println("PROBE FAIL", err)
	} else {
		// vivid stamps a frame with its nominal end time, which can be up
		// to one frame period ahead of the clock when it is dequeued.
		after := capture.Monotonic()
		ok := ts[0] > before && ts[len(ts)-1] <= after+time.Second
		for i := 1; i < len(ts); i++ {
			ok = ok && ts[i] > ts[i-1]
		}
		fmt.Printf("PROBE OK frames=%d increasing_monotonic=%v span=%v\n", len(ts), ok, ts[len(ts)-1]-ts[0])
	}

	// 2. Negotiated format, rate and a control, then a clean stop.
	log := slog.New(slog.NewTextHandler(os.Stdout, nil))
	v := capture.V4L2{Device: dev, Format: "YUYV", Width: 640, Height: 480, FPS: 15, HFlip: true, Logger: log}
	rctx, rcancel := context.WithCancel(ctx)
	var n, size int
	var first, last time.Duration
	err = v.Run(rctx, func(au segment.AU) {
		n++
		size = len(au.Data)
		if n == 1 {
			first = au.Time
		}
		last = au.Time
		if n == 8 {
			rcancel()
		}
	})
	fmt.Printf("RUN frames=%d bytes=%d interval=%v err=%v\n", n, size, (last-first)/time.Duration(max(n-1, 1)), err)

	// 3. The same node again (buffers were freed) and H.264, which vivid lacks.
	v = capture.V4L2{Device: dev, Logger: log}
	fmt.Println("H264", v.Run(ctx, func(segment.AU) {}))
	return nil
}

// findNode returns /dev/videoN of the video4linux device with that name.
func findNode(name string) (string, error) {
	matches, _ := filepath.Glob("/sys/class/video4linux/video*/name")
	var seen []string
	for _, m := range matches {
		b, _ := os.ReadFile(m)
		n := strings.TrimSpace(string(b))
		if n == name {
			return "/dev/" + filepath.Base(filepath.Dir(m)), nil
		}
		seen = append(seen, n)
	}
	return "", fmt.Errorf("no video4linux device %q (have %v)", name, seen)
}
