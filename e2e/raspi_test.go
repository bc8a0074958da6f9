package e2e

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camwire/camwire/camconsole"
	"github.com/camwire/camwire/config"
	"github.com/camwire/camwire/image"
	"github.com/camwire/camwire/image/imagetest"
	"github.com/camwire/camwire/internal/qemu"
	"github.com/camwire/camwire/recv"
	"github.com/camwire/camwire/wire"
)

// TestRaspi3bSDCard boots the real image on QEMU's Raspberry Pi 3 B the
// way a card boots a Pi: the kernel, initramfs and bcm2837-rpi-3-b.dtb
// come from the image's FAT partition and the image itself is the SD
// card. Its camwire.txt is edited in the built image first, as a user
// would on a laptop, so the settings can only have come from the card:
// the real camwire-init as PID 1 must load the Pi's modules by coldplug
// (SD host, dwc2, cdc_ether for QEMU's usb-net; vfat by name), mount the partition, read
// the file, set the address and stream the test picture to a receiver on
// the host's loopback. Ctrl-Alt-Del shuts it down cleanly: the summary
// line shows nothing dropped and every acknowledged frame decodes.
//
// Emulated USB is slow (~0.1–0.3 MB/s), so the clip is the small
// testsrc one (~400 kbit/s) and only a few seconds are recorded.
func TestRaspi3bSDCard(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		imagetest.Require(t, err)
	}
	if _, err := exec.LookPath("fsck.vfat"); err != nil {
		imagetest.Require(t, err)
	}
	init := imagetest.Init(t, "github.com/camwire/camwire/cmd/camwire-init")
	b := buildImage(t, init, image.BootOptions{})

	// The receiver, in process, on the host's loopback: the guest
	// reaches it at 10.0.2.2 through QEMU's user network.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	recDir := t.TempDir()
	var mu sync.Mutex
	var files []string
	cameras := map[string]bool{}
	frames := make(chan struct{}, 1<<16)
	var reports []string
	srv := &recv.Server{
		Dir: recDir,
		OnReport: func(camera, path, text string) {
			mu.Lock()
			reports = append(reports, path+"\n"+text)
			mu.Unlock()
		},
		OnFile: func(camera, path string) {
			mu.Lock()
			files = append(files, path)
			cameras[camera] = true
			mu.Unlock()
		},
		OnFrame: func(camera string, _ wire.Hello, _ wire.Frame) {
			select {
			case frames <- struct{}{}:
			default:
			}
		},
	}
	srvCtx, srvStop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(srvCtx, ln) }()
	var serveErr error
	stopServer := sync.OnceFunc(func() {
		srvStop()
		serveErr = <-served
	})
	defer stopServer()

	// Edit camwire.txt on the card, as a user would.
	const name = "raspi-card"
	txt, err := image.ReadDiskFile(b.Image, image.SettingsName)
	if err != nil {
		t.Fatal(err)
	}
	receiver := "10.0.2.2:" + strconv.Itoa(port)
	txt, err = image.SetSettings(txt, map[string]string{
		"name": name, "address": "10.0.2.15/24", "receiver": receiver,
		"source": "testsrc", "segment": "3s",
		// QEMU's user network runs its own DHCP server.
		"dhcp_server": "off",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := image.WriteDiskFile(b.Image, image.SettingsName, txt); err != nil {
		t.Fatal(err)
	}
	fsckImage(t, b.Image)
	cfg := config.Default()
	if got, err := image.ReadDiskFile(b.Image, image.SettingsName); err != nil {
		t.Fatal(err)
	} else if probs := cfg.ApplyFile(image.SettingsName, bytes.NewReader(got)); len(probs) > 0 || cfg.Name != name {
		t.Fatalf("camwire.txt on the card: name %q, problems %v", cfg.Name, probs)
	}

	// The kernel command line the firmware would pass (cmdline.txt),
	// with QEMU's PL011 as the console and a crash ending QEMU. The
	// qemu package keeps bcm2835_wdt out (QEMU 7.2 resets the board the
	// moment the watchdog starts; see qemu.Config.Watchdog), so PID 1
	// runs without a watchdog, as on a Pi whose watchdog fails, and
	// power-off halts the CPUs instead of ending QEMU.
	cmdline, err := image.ReadDiskFile(b.Image, "cmdline.txt")
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"console=ttyAMA0", "panic=-1"}
	for _, a := range strings.Fields(string(cmdline)) {
		if !strings.HasPrefix(a, "console=") {
			args = append(args, a)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	m := start(t, ctx, qemu.Config{
		Board: qemu.Raspi3b, Kernel: b.Kernel, Initrd: b.Initrd, DTB: b.DTB, Disk: b.Image,
		Append: strings.Join(args, " "),
	})
	var cur qemu.Cursor
	wait := func(re *regexp.Regexp) qemu.Line {
		t.Helper()
		l, err := m.WaitFor(ctx, &cur, re)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	initLine := wait(camconsole.Match(camconsole.InitStart))
	board := wait(regexp.MustCompile(`^camwire: board `))
	if !strings.Contains(board.Text, "board pi3 ") {
		t.Errorf("board line %q, want pi3", board.Text)
	}
	// Read-only: camwire never writes the card, so pulling power
	// cannot corrupt it.
	// A failed mount's line starts the same and goes on with the error.
	wait(regexp.MustCompile(`^camwire: mount -t vfat -o ro,\S* /dev/mmcblk0p1 /boot \(optional\)$`))
	rec := wait(camconsole.Match(camconsole.RecorderStart))
	for _, want := range []string{"name=" + name, "source=testsrc", "receiver=" + receiver} {
		if !strings.Contains(rec.Text, want) {
			t.Errorf("recorder start line %q lacks %q: camwire.txt on the card did not take effect", rec.Text, want)
		}
	}
	acked := wait(camconsole.Match(camconsole.FirstAckedPrefix))
	// The network step runs beside the recorder: look at the whole
	// console for the address from camwire.txt.
	if _, err := m.WaitFor(ctx, nil, regexp.MustCompile(`usb0 10\.0\.2\.15/24`)); err != nil {
		t.Errorf("address from camwire.txt not set on usb0 (QEMU's usb-net, cdc_ether): %v", err)
	}
	// No board module list: the coldplug loaded the SD host and USB
	// drivers for the device tree's nodes, cdc_ether for the USB NIC
	// when it enumerated later (a uevent), and kept the watchdog driver
	// out as the kernel command line asks.
	for _, re := range []string{
		`^camwire: coldplug: bcm2835 loaded for devices/platform/soc/3f202000\.mmc`,
		`^camwire: coldplug: dwc2 loaded for devices/platform/soc/3f980000\.usb`,
		`^camwire: coldplug: cdc_ether loaded for devices/platform/soc/3f980000\.usb/usb1/`,
		`^camwire: coldplug: bcm2835_wdt skipped \(blacklisted`,
	} {
		if _, err := m.WaitFor(ctx, nil, regexp.MustCompile(re)); err != nil {
			t.Errorf("console: %v", err)
		}
	}

	// A few seconds of video, counted as the receiver gets it.
	const want = 90
	timeout := time.After(90 * time.Second)
	for n := 0; n < want; n++ {
		select {
		case <-frames:
		case <-timeout:
			t.Fatalf("receiver got %d frames in 90 s, want %d", n, want)
		}
	}
	if err := m.CtrlAltDel(); err != nil {
		t.Fatal(err)
	}
	wait(camconsole.Match(camconsole.ShutdownPrefix))
	sumLine := wait(camconsole.SummaryRE)
	wait(camconsole.Match(camconsole.PowerOff))
	if err := m.WaitOff(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
	sum, err := camconsole.ParseSummary(sumLine.Text)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Dropped != 0 || sum.Acked != sum.Sent || sum.Sent < want {
		t.Errorf("summary %q: want nothing dropped, every sent frame acked, at least %d", sum.Format(), want)
	}

	// The card after the run: still clean, settings unchanged.
	fsckImage(t, b.Image)
	if got, err := image.ReadDiskFile(b.Image, image.SettingsName); err != nil || !bytes.Equal(got, txt) {
		t.Errorf("camwire.txt after the run: %d bytes, %v; want the %d bytes written before", len(got), err, len(txt))
	}

	// The receiver finishes the last file once the connection ends.
	stopServer()
	if serveErr != nil {
		t.Errorf("receiver: %v", serveErr)
	}
	mu.Lock()
	defer mu.Unlock()
	if !cameras[name] || len(cameras) != 1 {
		t.Errorf("recordings for cameras %v, want only %q (the name in camwire.txt)", cameras, name)
	}
	total := 0
	for _, f := range files {
		if filepath.Base(filepath.Dir(f)) != name {
			t.Errorf("%s: not in the camera's folder %q", f, name)
		}
		total += ffprobeFrames(t, f)
	}
	if uint64(total) != sum.Acked {
		t.Errorf("ffprobe decoded %d frames in %d files, want the %d acknowledged (%s)", total, len(files), sum.Acked, sum.Format())
	}
	// The boot report: stored in the camera's folder, from the Pi 3's
	// device tree, naming the missing camera device with the kernel's
	// reason (QEMU has no camera; the source here is testsrc).
	if len(reports) != 1 {
		t.Fatalf("%d boot reports, want 1", len(reports))
	}
	path, text, _ := strings.Cut(reports[0], "\n")
	t.Logf("boot report %s:\n%s", path, text)
	if filepath.Dir(path) != filepath.Join(recDir, name, ".camwire", "boot") {
		t.Errorf("boot report stored as %s, want it in %s/.camwire/boot", path, name)
	}
	for _, want := range []string{
		"camwire boot report: " + name + " on Raspberry Pi 3 Model B",
		"\nboot partition: /dev/mmcblk0p1 on /boot (vfat, ro",
		"\n  /dev/video0 missing (not used: the source is not the camera): no camera driver bound: ",
		"\nlink usb0: up, ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("boot report lacks %q", want)
		}
	}
	t.Logf("raspi3b: /init %v after qemu start, first frame acked %v after /init; %s; %d files, captured %d",
		initLine.At.Sub(m.Started).Round(time.Millisecond), acked.At.Sub(initLine.At).Round(time.Millisecond),
		sum.Format(), len(files), sum.Captured)
}

// fsckImage runs fsck.vfat -n on the image's boot partition, extracted.
func fsckImage(t *testing.T, img string) {
	t.Helper()
	raw, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(t.TempDir(), "part.img")
	if err := os.WriteFile(part, raw[image.PartitionOffset:], 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("fsck.vfat", "-n", part).CombinedOutput(); err != nil {
		t.Fatalf("fsck.vfat -n on the boot partition: %v\n%s", err, out)
	}
}
