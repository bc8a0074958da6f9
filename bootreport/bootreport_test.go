package bootreport

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// tree writes files (path → content) under a fresh directory. A content
// starting with "->" makes a symlink to the rest.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, c := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(c, "->"); ok {
			if err := os.Symlink(target, full); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// pi3 is a Raspberry Pi 3 as the QEMU raspi3b machine boots it: no
// camera (vchiq fails), a USB network link at 100 Mbit/s, a thermal
// zone, raspberrypi-hwmon.
func pi3(t *testing.T) Gatherer {
	root := tree(t, map[string]string{
		"proc/device-tree/model":                             "Raspberry Pi 3 Model B Rev 1.2\x00",
		"proc/device-tree/compatible":                        "raspberrypi,3-model-b\x00brcm,bcm2837\x00",
		"proc/device-tree/serial-number":                     "00000000a1b2c3d4\x00",
		"proc/device-tree/system/linux,revision":             "\x00\xa0\x20\x82",
		"proc/version":                                       "Linux version 6.1.0-57-arm64 (debian-kernel@lists.debian.org) #1 SMP Debian 6.1.158-1\n",
		"proc/uptime":                                        "14.52 20.01\n",
		"proc/modules":                                       "smsc95xx 49152 0 - Live 0x0\nvchiq 360448 0 - Live 0x0\nbcm2835_wdt 16384 0 - Live 0x0\n",
		"proc/mounts":                                        "proc /proc proc rw 0 0\n/dev/mmcblk0p1 /boot vfat ro,relatime 0 0\n",
		"sys/class/net/lo/operstate":                         "unknown\n",
		"sys/class/net/eth0/operstate":                       "up\n",
		"sys/class/net/eth0/speed":                           "100\n",
		"sys/class/net/eth0/duplex":                          "full\n",
		"sys/class/net/eth0/address":                         "b8:27:eb:01:02:03\n",
		"sys/class/net/usb0/operstate":                       "unknown\n",
		"sys/class/net/usb0/carrier":                         "1\n",
		"sys/class/net/usb0/speed":                           "-1\n",
		"sys/class/thermal/thermal_zone0/temp":               "48312\n",
		"sys/class/thermal/thermal_zone0/type":               "cpu-thermal\n",
		"sys/class/hwmon/hwmon0/name":                        "rpi_volt\n",
		"sys/class/hwmon/hwmon0/in0_lcrit_alarm":             "0\n",
		"sys/bus/platform/devices/3f00b840.mailbox/modalias": "of:NmailboxT(null)Cbrcm,bcm2835-vchiq\n",
		"sys/bus/platform/devices/3f300000.mmcnr/modalias":   "of:NmmcnrT(null)Cbrcm,bcm2835-mmc\n",
		"sys/bus/platform/devices/3f300000.mmcnr/driver":     "->../../../bus/platform/drivers/sdhci-iproc",
		"run/init.json": `{"board":"pi3","modules":[{"name":"vchiq"},{"name":"bcm2835-v4l2","err":"no such device"},{"name":"bcm2835_wdt","err":"skipped: blacklisted"}],` +
			`"boot":"mounted /dev/mmcblk0p1 on /boot","boot_ok":true,"network":["192.168.77.186/24 claimed on eth0 after an ARP probe"]}`,
	})
	return Gatherer{
		Proc: filepath.Join(root, "proc"), Sys: filepath.Join(root, "sys"), Dev: filepath.Join(root, "dev"),
		InitFile: filepath.Join(root, "run/init.json"),
		Kernel: func() ([]string, error) {
			return []string{
				"[    1.000000] Booting Linux on physical CPU 0x0000000000 [0x410fd034]",
				"[    4.210000] vchiq: module is from the staging directory, the quality is unknown, you have been warned.",
				"[    4.220000] bcm2835_vchiq 3f00b840.mailbox: Failed to get Vchiq memory (-110)",
				"[    4.230000] bcm2835_vchiq: probe of 3f00b840.mailbox failed with error -110",
			}, nil
		},
		Addrs:     func(string) []string { return []string{"192.168.77.186/24"} },
		Name:      "camwire-a1b2c3",
		Version:   "test",
		Problems:  []string{"camwire.txt:3: fps: \"thirty\" is not a number; using default 30"},
		Video:     "/dev/video0",
		VideoUsed: true,
	}
}

func TestGatherPi3WithoutCamera(t *testing.T) {
	r := pi3(t).Gather()
	want := "camwire boot report: camwire-a1b2c3 on Raspberry Pi 3 Model B Rev 1.2, camwire test: " +
		"no /dev/video0: no camera driver bound: vchiq probe failed: bcm2835_vchiq 3f00b840.mailbox: Failed to get Vchiq memory (-110); " +
		"1 modules failed (bcm2835-v4l2); 1 settings problems"
	if diff := cmp.Diff(want, r.Summary()); diff != "" {
		t.Errorf("Summary() (-want +got):\n%s", diff)
	}
	text := r.Text()
	if first, _, _ := strings.Cut(text, "\n"); first != r.Summary() {
		t.Errorf("first line %q is not the summary", first)
	}
	for _, l := range []string{
		"revision: a02082",
		"serial:   00000000a1b2c3d4",
		"kernel:   Linux version 6.1.0-57-arm64",
		"  /dev/video0 missing: no camera driver bound: vchiq probe failed:",
		"kernel camera messages (3):",
		"boot partition: /dev/mmcblk0p1 on /boot (vfat, ro,relatime)",
		"  bcm2835-v4l2: no such device",
		"modules loaded (3):",
		"devices without a driver (1):\n  platform/3f00b840.mailbox (of:NmailboxT(null)Cbrcm,bcm2835-vchiq)\n",
		"link eth0: up, 100 Mbit/s full duplex, b8:27:eb:01:02:03, 192.168.77.186/24",
		"link usb0: up, unknown, unknown, 192.168.77.186/24",
		"network: 192.168.77.186/24 claimed on eth0 after an ARP probe",
		"SoC temperature: 48.3 °C (cpu-thermal, thermal_zone0)",
		"throttling: under-voltage now: no (class/hwmon/hwmon0/in0_lcrit_alarm, from the firmware via raspberrypi-hwmon)",
	} {
		if !strings.Contains(text, l) {
			t.Errorf("report lacks %q:\n%s", l, text)
		}
	}
	if strings.Contains(text, "link lo") {
		t.Errorf("report lists loopback:\n%s", text)
	}
}

func TestGatherEmptyTree(t *testing.T) {
	root := t.TempDir()
	g := Gatherer{Proc: root + "/proc", Sys: root + "/sys", Dev: root + "/dev", Name: "cam", Version: "v",
		Kernel: func() ([]string, error) { return nil, errors.New("no kmsg") }, Video: "/dev/video0", VideoUsed: true}
	r := g.Gather()
	for _, want := range []string{
		"no /dev/video0: no camera driver bound: /dev/video0 did not appear and the kernel log says nothing about the camera",
		"(kernel log not readable: no kmsg)",
		"boot partition unknown: ",
	} {
		if !strings.Contains(r.Summary(), want) {
			t.Errorf("Summary() = %q, want it to contain %q", r.Summary(), want)
		}
	}
	text := r.Text()
	for _, want := range []string{
		"board:    unknown",
		"modules tried by PID 1: unknown (not started by camwire's PID 1)",
		"SoC temperature: unknown: no thermal zone",
		"throttling: unknown: no rpi_volt hwmon in /sys/class/hwmon (raspberrypi-hwmon not loaded, or not a Raspberry Pi); no /dev/vcio",
		"network: no interface but loopback",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
}

func TestGatherNotACamera(t *testing.T) {
	g := pi3(t)
	g.VideoUsed = false
	g.Problems = nil
	os.WriteFile(g.InitFile, []byte(`{"board":"qemu-virt","boot":"mounted /dev/vda1 on /boot","boot_ok":true}`), 0o644)
	r := g.Gather()
	if got, want := r.Summary(), "camwire boot report: camwire-a1b2c3 on Raspberry Pi 3 Model B Rev 1.2, camwire test: no problems found"; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
	if !strings.Contains(r.Text(), "  /dev/video0 missing (not used: the source is not the camera): no camera driver bound: vchiq probe failed:") {
		t.Errorf("report:\n%s", r.Text())
	}
}

func TestConflictNoteIsAProblem(t *testing.T) {
	g := pi3(t)
	g.Problems = nil
	g.Notes = []string{"network: address conflict: 192.168.77.89 is in use: 56:90:ee:7b:6d:5f answered; took 192.168.77.131/24 instead"}
	s := g.Gather().Summary()
	if want := "; address conflict: 192.168.77.89 is in use: 56:90:ee:7b:6d:5f answered; took 192.168.77.131/24 instead"; !strings.Contains(s, want) {
		t.Errorf("Summary() = %q, want it to contain %q", s, want)
	}
}

func TestCameraReason(t *testing.T) {
	all := []string{"vchiq", "bcm2835_mmal_vchiq", "bcm2835_v4l2"}
	tests := []struct {
		name   string
		klog   []string
		loaded []string
		want   string
	}{
		{"vchiq probe failed", []string{"[ 4.2] bcm2835_vchiq: probe of 3f00b840.mailbox failed with error -110"}, all,
			"no camera driver bound: vchiq probe failed: bcm2835_vchiq: probe of 3f00b840.mailbox failed with error -110"},
		{"camera not found", []string{"[ 9.1] bcm2835-v4l2: Failed to enable camera", "[ 9.2] bcm2835_v4l2: probe of bcm2835-camera failed with error -5"}, all,
			"no camera driver bound: camera driver failed: bcm2835-v4l2: Failed to enable camera"},
		{"vchiq missing", nil, []string{"smsc95xx"}, "no camera driver bound: the vchiq module (VideoCore interface) is not loaded"},
		{"v4l2 missing", nil, []string{"vchiq"}, "no camera driver bound: the bcm2835_v4l2 module (legacy camera driver) is not loaded"},
		{"harmless lines only", []string{"[ 4.2] vchiq: module is from the staging directory, the quality is unknown, you have been warned."}, all,
			"no camera driver bound: /dev/video0 did not appear and the kernel log says nothing about the camera " +
				"(is it enabled — start_x=1, gpu_mem=128 in config.txt — and is the ribbon cable seated?)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, CameraReason("/dev/video0", tt.klog, nil, tt.loaded)); diff != "" {
				t.Errorf("CameraReason (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseKmsg(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"6,339,5140900,-;NET: Registered protocol family 10\n SUBSYSTEM=net\n", "[    5.140900] NET: Registered protocol family 10", true},
		{"3,1,12,-;x", "[    0.000012] x", true},
		{"no separator", "", false},
		{"6,1;short head", "", false},
	}
	for _, tt := range tests {
		got, ok := parseKmsg(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseKmsg(%q) = %q, %v, want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	if diff := cmp.Diff([]string{"[    0.1] a", "[    0.2] b"}, parseSyslog("<6>[    0.1] a\n<4>[    0.2] b\n")); diff != "" {
		t.Errorf("parseSyslog (-want +got):\n%s", diff)
	}
}

// TestKernelLogReadsThisKernel reads the real kernel log: records end at
// EAGAIN instead of blocking, and each becomes a dmesg-style line.
func TestKernelLogReadsThisKernel(t *testing.T) {
	if _, err := os.Stat("/dev/kmsg"); err != nil {
		t.Skipf("no /dev/kmsg: %v", err)
	}
	lines, err := KernelLog("/dev/kmsg")
	if err != nil {
		t.Skipf("kernel log not readable here (needs root or dmesg_restrict=0): %v", err)
	}
	if len(lines) == 0 {
		t.Fatal("KernelLog returned no lines from a running kernel")
	}
	if !strings.HasPrefix(lines[0], "[") {
		t.Errorf("first line %q is not dmesg-style", lines[0])
	}
}

func TestInitRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "run", "camwire", "init.json")
	in := Init{Board: "pi3", Modules: []Module{{Name: "vfat"}, {Name: "vchiq", Err: "boom"}}, Boot: "mounted", BootOK: true,
		Network: []string{"a"}, Conflict: "192.168.77.5 is in use by 52:54:00:00:00:01"}
	if err := WriteInit(p, in); err != nil {
		t.Fatal(err)
	}
	got, err := ReadInit(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, got); diff != "" {
		t.Errorf("ReadInit (-want +got):\n%s", diff)
	}
}

// TestGatherWaitsForPID1Modules: while PID 1 is still loading drivers
// (Loading) the report waits for its rewrite, so a module that failed
// late is in it; past InitWait the report says its list is incomplete.
func TestGatherWaitsForPID1Modules(t *testing.T) {
	g := pi3(t)
	if err := WriteInit(g.InitFile, Init{Board: "pi3", Loading: true, Modules: []Module{{Name: "vfat"}}}); err != nil {
		t.Fatal(err)
	}
	g.InitWait = time.Minute
	written := make(chan error, 1)
	got := make(chan Report, 1)
	go func() { got <- g.Gather() }()
	// The rewrite a reader has to see: written while Gather waits
	// (or before it looked: both end in the final file).
	go func() {
		written <- WriteInit(g.InitFile, Init{Board: "pi3", Modules: []Module{{Name: "vfat"}, {Name: "bcm2835_v4l2", Err: "no such device"}}})
	}()
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.Init == nil || r.Init.Loading || len(r.Init.Modules) != 2 {
		t.Fatalf("Gather's Init = %+v, want the rewritten file with both modules", r.Init)
	}
	if text := r.Text(); !strings.Contains(text, "bcm2835_v4l2: no such device") || strings.Contains(text, "still loading") {
		t.Errorf("report:\n%s\nwant the late failure and no note that loading went on", text)
	}

	WriteInit(g.InitFile, Init{Board: "pi3", Loading: true})
	g.InitWait = 0
	if text := g.Gather().Text(); !strings.Contains(text, "PID 1 was still loading drivers") {
		t.Errorf("report with Loading left set:\n%s\nwant it to say the module list is incomplete", text)
	}
}

func TestLinkState(t *testing.T) {
	for _, tt := range []struct {
		name, operstate, carrier, want string
	}{
		{"up", "up", "1", "up"},
		{"operstate still down just after set up (linkwatch lag)", "down", "1", "up"},
		{"no link state (cdc_ether, usb-net)", "unknown", "1", "up"},
		{"cable out", "down", "0", "down"},
		{"interface down: carrier reads EINVAL", "down", "", "down"},
		{"unknown without carrier", "unknown", "0", "unknown"},
		{"dormant stays dormant", "dormant", "1", "dormant"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, linkState(tt.operstate, tt.carrier)); diff != "" {
				t.Errorf("linkState(%q, %q) (-want +got):\n%s", tt.operstate, tt.carrier, diff)
			}
		})
	}
}
