package qemu

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/camwire/camwire/internal/testkit"
)

// TestArgsRaspi3b: the Pi 3 B gets the Pi's device tree, QEMU's usb-net
// (cdc_ether in the guest), a USB keyboard for Ctrl-Alt-Del and the image
// as its SD card; QEMU's SD model takes only power-of-two sizes, so any
// other size is refused here with a clear message instead of by QEMU.
func TestArgsRaspi3b(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.img")
	bad := filepath.Join(dir, "bad.img")
	if err := os.WriteFile(good, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, make([]byte, 3<<19), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		c       Config
		want    []string // substrings of the joined command line
		wantErr string
	}{
		{"sd card", Config{Board: Raspi3b, Kernel: "k", DTB: "d.dtb", Disk: good, Append: "x"},
			[]string{"-M raspi3b", "-dtb d.dtb", "-device usb-net,netdev=n0", "-netdev user,id=n0", "-device usb-kbd", "-drive if=sd,format=raw,file=" + good}, ""},
		{"no disk", Config{Board: Raspi3b, Kernel: "k", DTB: "d.dtb", Initrd: "i"},
			[]string{"-M raspi3b", "-initrd i"}, ""},
		{"no watchdog", Config{Board: Raspi3b, Kernel: "k", DTB: "d.dtb", Append: "console=ttyAMA0 panic=-1"},
			[]string{"-append console=ttyAMA0 panic=-1 " + NoWatchdog}, ""},
		{"net id", Config{Board: Raspi3b, Kernel: "k", DTB: "d.dtb", NetID: "cam"},
			[]string{"-device usb-net,netdev=cam", "-netdev user,id=cam"}, ""},
		{"watchdog kept", Config{Board: Raspi3b, Kernel: "k", DTB: "d.dtb", Append: "quiet", Watchdog: true},
			[]string{"-append quiet -dtb"}, ""},
		{"no dtb", Config{Board: Raspi3b, Kernel: "k"}, nil, "device tree"},
		{"odd size", Config{Board: Raspi3b, Kernel: "k", DTB: "d.dtb", Disk: bad}, nil, "power of two"},
		{"missing disk", Config{Board: Raspi3b, Kernel: "k", DTB: "d.dtb", Disk: filepath.Join(dir, "none")}, nil, "no such file"},
		{"unknown board", Config{Board: "pi9", Kernel: "k"}, nil, "unknown board"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args, err := Args(tc.c)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Args() error = %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			line := strings.Join(args, " ")
			if strings.Contains(line, NoWatchdog) == tc.c.Watchdog {
				t.Errorf("Args() = %q: %s present = %v, want %v", line, NoWatchdog, !tc.c.Watchdog, tc.c.Watchdog)
			}
			for _, w := range tc.want {
				if !strings.Contains(line, w) {
					t.Errorf("Args() = %q, lacks %q", line, w)
				}
			}
		})
	}
}

// TestStartFailureCleansUp: a Start that fails after making its
// temporary directory (here: the context is already cancelled, so the
// emulator is never started) leaves no directory behind, as there is no
// Machine the caller could Close.
func TestStartFailureCleansUp(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m, err := Start(ctx, Config{Board: Virt, Kernel: "k"})
	if err == nil {
		m.Close()
		t.Fatal("Start with a cancelled context succeeded, want an error")
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("Start failed (%v) but left %v in TMPDIR", err, left)
	}
}

// TestArgsVirtNoOptionROM: every PCI device on virt is created without
// an option ROM, so QEMU starts without Debian's ipxe-qemu (the NIC's
// default efi-virtio.rom lives there).
func TestArgsVirtNoOptionROM(t *testing.T) {
	args, err := Args(Config{Board: Virt, Kernel: "k", Disk: "d.img"})
	if err != nil {
		t.Fatal(err)
	}
	var pci int
	for i, a := range args {
		if a != "-device" || i+1 == len(args) {
			continue
		}
		dev := args[i+1]
		if strings.Contains(strings.SplitN(dev, ",", 2)[0], "-pci") {
			pci++
			if !strings.HasSuffix(dev, ",romfile=") && !strings.Contains(dev, ",romfile=,") {
				t.Errorf("Args() has -device %s, want romfile= (empty)", dev)
			}
		}
	}
	if pci != 3 { // NIC, keyboard, disk
		t.Errorf("Args() = %q: %d PCI devices, want 3", args, pci)
	}
}

// TestVirtStartsWithoutIPXE runs QEMU with Args' command line while the
// option-ROM directories are hidden (an empty directory bind-mounted
// over them in a private mount namespace), as on a machine without
// ipxe-qemu. The same line with the NIC's default ROM must fail there,
// which proves the ROMs really were hidden.
func TestVirtStartsWithoutIPXE(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to hide the option ROMs in a mount namespace")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare (util-linux)")
	}
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	kernel := filepath.Join(dir, "kernel")
	disk := filepath.Join(dir, "disk.img")
	for _, err := range []error{os.Mkdir(empty, 0o755), os.WriteFile(kernel, nil, 0o644), os.WriteFile(disk, make([]byte, 1<<20), 0o644)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	// QEMU's firmware search path; hide each directory holding the ROM.
	out, err := exec.Command(Binary, "-L", "help").Output()
	if err != nil {
		t.Fatalf("%s -L help: %v", Binary, err)
	}
	var hide []string
	for _, d := range strings.Fields(string(out)) {
		if _, err := os.Stat(filepath.Join(d, "efi-virtio.rom")); err == nil {
			hide = append(hide, d)
		}
	}
	run := func(args []string) (string, error) {
		script := `e=$1; shift; for d in $HIDE; do mount --bind "$e" "$d" || exit 1; done; exec "$@"`
		cmd := testkit.UnshareMounts(script, append([]string{"sh", empty, Binary}, args...)...)
		cmd.Env = append(os.Environ(), "HIDE="+strings.Join(hide, " "))
		// Stopped CPUs, no console; "quit" ends QEMU once its devices
		// are up.
		cmd.Stdin = strings.NewReader("quit\n")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	args, err := Args(Config{Board: Virt, Kernel: kernel, Disk: disk})
	if err != nil {
		t.Fatal(err)
	}
	args = append(args, "-S", "-serial", "none", "-monitor", "stdio")
	if out, err := run(args); err != nil {
		t.Fatalf("QEMU with Args' line and no option ROMs: %v\n%s", err, out)
	}
	var withROM []string
	for _, a := range args {
		withROM = append(withROM, strings.Replace(a, "virtio-net-pci,netdev=n0,romfile=", "virtio-net-pci,netdev=n0", 1))
	}
	out2, err := run(withROM)
	if err == nil || !strings.Contains(out2, `failed to find romfile "efi-virtio.rom"`) {
		t.Fatalf("QEMU with the NIC's default ROM hidden: err = %v, output %q; want it to fail for efi-virtio.rom (were the ROMs hidden?)", err, out2)
	}
}

// TestStoppedCarriesQEMUStderr: when QEMU refuses to start, every wait
// on the machine fails with QEMU's own message (it goes to stderr, not
// the guest console) and its exit status, not just "machine stopped".
func TestStoppedCarriesQEMUStderr(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	for _, tc := range []struct {
		name string
		c    Config
		want string // QEMU's message
	}{
		{"missing kernel", Config{Board: Virt, Kernel: filepath.Join(t.TempDir(), "no-such-kernel")}, "could not load kernel"},
		{"bad netdev id", Config{Board: Virt, Kernel: os.DevNull, NetID: "bad id"}, "Parameter 'id' expects an identifier"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			m, err := Start(ctx, tc.c)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			_, err = m.WaitFor(ctx, nil, regexp.MustCompile(`a console line that never comes`))
			var se *StoppedError
			if !errors.As(err, &se) {
				t.Fatalf("WaitFor() error = %v, want a StoppedError", err)
			}
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 1 {
				t.Errorf("WaitFor() error = %v, want it to wrap QEMU's exit status 1", err)
			}
			for _, w := range []string{"machine stopped before a console line matched", tc.want, "exit status 1"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("WaitFor() error = %q, lacks %q", err, w)
				}
			}
			if err := m.Wait(ctx); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Wait() error = %v, want one with %q", err, tc.want)
			}
			if _, err := m.Monitor("info status"); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Monitor() error = %v, want one with %q", err, tc.want)
			}
		})
	}
}

// TestArgsIcount: -icount only when asked for, with its value.
func TestArgsIcount(t *testing.T) {
	for _, tc := range []struct {
		icount string
		want   int // index of "-icount", -1 for none
	}{{"", -1}, {"shift=0,sleep=on", 0}} {
		args, err := Args(Config{Board: Virt, Kernel: "k", Icount: tc.icount})
		if err != nil {
			t.Fatal(err)
		}
		i := slices.Index(args, "-icount")
		if (i < 0) != (tc.want < 0) || (i >= 0 && (i+1 == len(args) || args[i+1] != tc.icount)) {
			t.Errorf("Args(Icount %q) = %q, want -icount %q only when set", tc.icount, args, tc.icount)
		}
	}
}
