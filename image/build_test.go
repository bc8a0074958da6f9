package image_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"debug/buildinfo"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/camwire/camwire/config"
	"github.com/camwire/camwire/image"
	"github.com/camwire/camwire/image/imagetest"
	"github.com/camwire/camwire/pid1"
	"github.com/google/go-cmp/cmp"
	"github.com/u-root/u-root/pkg/cpio"
	"github.com/u-root/u-root/pkg/kmodule"
)

const testInit = "github.com/camwire/camwire/image/testdata/testinit"

// TestBuildImage builds the real image from Debian's packages and checks
// it the way a Pi's firmware and a user's laptop would read it.
func TestBuildImage(t *testing.T) {
	parts := imagetest.Parts(t)
	init := imagetest.Init(t, testInit)
	img := filepath.Join(t.TempDir(), "camwire.img")
	r, err := image.Build(context.Background(), image.Options{
		Out: img, Init: init, Log: t.Logf,
		Boot: image.BootOptions{Settings: map[string]string{"name": "pi-test", "address": "192.168.9.2/24", "receiver": "192.168.9.1:10401"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image %d MiB, initramfs %.1f MiB, built in %v", fi.Size()>>20, float64(r.InitramfsSize)/(1<<20), r.Took)
	if fi.Size() != image.DefaultDiskSize {
		t.Errorf("image is %d bytes, want %d", fi.Size(), image.DefaultDiskSize)
	}

	// fsck.vfat on the partition, read-only.
	raw, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(t.TempDir(), "part")
	os.WriteFile(part, raw[image.PartitionOffset:], 0o644)
	if out, err := exec.Command("fsck.vfat", "-n", part).CombinedOutput(); err != nil {
		t.Errorf("fsck.vfat -n: %v\n%s", err, out)
	} else if bytes.Contains(out, []byte("Free cluster summary")) {
		t.Errorf("fsck.vfat -n complains about FSInfo:\n%s", out)
	}

	want := []string{"bootcode.bin", "start_x.elf", "fixup_x.dat", "start4x.elf", "fixup4x.dat",
		"vmlinuz-" + parts.KernelVersion, image.InitramfsName, "config.txt", "cmdline.txt", "camwire.txt",
		"bcm2837-rpi-3-b.dtb", "bcm2837-rpi-3-b-plus.dtb", "bcm2711-rpi-4-b.dtb"}
	for _, name := range want {
		got, err := image.ReadDiskFile(img, name)
		if err != nil {
			t.Errorf("boot partition: %v", err)
			continue
		}
		if !bytes.Equal(got, r.ImageFiles[name]) {
			t.Errorf("%s read back differs from what was written (%d vs %d bytes)", name, len(got), len(r.ImageFiles[name]))
		}
	}
	kernel, err := os.ReadFile(parts.Kernel())
	if err != nil {
		t.Fatal(err)
	}
	onCard := r.ImageFiles["vmlinuz-"+parts.KernelVersion]
	if !bytes.Equal(onCard[:min(len(kernel), len(onCard))], kernel) {
		t.Error("kernel on the card differs from the package's")
	}
	// Padded with zeros to the header's image_size, so the initramfs
	// (followkernel) lies beyond what the kernel zeroes at boot.
	if size, err := image.Arm64ImageSize(kernel); err != nil {
		t.Errorf("the package's kernel: %v", err)
	} else if uint64(len(onCard)) != size || size <= uint64(len(kernel)) {
		t.Errorf("kernel on the card is %d bytes, the package's %d, its image_size %d: want the card's = image_size > the file",
			len(onCard), len(kernel), size)
	} else if len(bytes.Trim(onCard[len(kernel):], "\x00")) != 0 {
		t.Error("kernel on the card is padded with something other than zeros")
	}
	cfgTxt := string(r.ImageFiles["config.txt"])
	for _, line := range []string{"arm_64bit=1", "upstream_kernel=1", "kernel=vmlinuz-" + parts.KernelVersion,
		"initramfs " + image.InitramfsName + " followkernel", "start_x=1", "gpu_mem=128", "enable_uart=1"} {
		if !strings.Contains(cfgTxt, "\n"+line+"\n") {
			t.Errorf("config.txt lacks %q", line)
		}
	}
	c := config.Default()
	if probs := c.ApplyFile("camwire.txt", bytes.NewReader(r.ImageFiles["camwire.txt"])); len(probs) > 0 || c.Name != "pi-test" || c.Receiver != "192.168.9.1:10401" {
		t.Errorf("camwire.txt on the card: name %q receiver %q problems %v; want pi-test 192.168.9.1:10401", c.Name, c.Receiver, probs)
	}
}

// unpackInitramfs writes the archive's files under a directory, as the
// kernel would unpack it.
func unpackInitramfs(t *testing.T, gz []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, r := range recs {
		p := filepath.Join(dir, r.Name)
		switch r.Mode & cpio.S_IFMT {
		case cpio.S_IFDIR:
			os.MkdirAll(p, 0o755)
		case cpio.S_IFREG:
			b, _ := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// TestInitramfsModulesProbe: u-root's kmodule — what camwire-init loads
// modules with — finds every module of image.Modules and each of its
// dependencies in the initramfs, through the modules.dep written there.
func TestInitramfsModulesProbe(t *testing.T) {
	parts := imagetest.Parts(t)
	gz, err := image.Initramfs{Init: []byte("x"), Parts: parts}.Build()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("initramfs with a 1-byte init: %.1f MiB", float64(len(gz))/(1<<20))
	root := unpackInitramfs(t, gz)
	// Every module camwire-init loads on each board, by the name it uses.
	for _, model := range []string{"Raspberry Pi 3 Model B Rev 1.2", "Raspberry Pi 3 Model B Plus Rev 1.3",
		"Raspberry Pi 4 Model B Rev 1.4", "Raspberry Pi Zero 2 W Rev 1.0", ""} {
		b := pid1.BoardFor(model, "linux,dummy-virt")
		for _, name := range b.Modules {
			err := kmodule.ProbeOptions(name, "", kmodule.ProbeOpts{
				RootDir: root, KVer: parts.KernelVersion, IgnoreProcMods: true, DryRunCB: func(string) {},
			})
			if err != nil {
				t.Errorf("board %s loads %s: %v", b.Name, name, err)
			}
		}
	}
	for _, m := range image.Modules {
		var loaded []string
		err := kmodule.ProbeOptions(m.Name, "", kmodule.ProbeOpts{
			RootDir: root, KVer: parts.KernelVersion, IgnoreProcMods: true,
			DryRunCB: func(path string) { loaded = append(loaded, path) },
		})
		if err != nil {
			if m.Optional {
				t.Logf("optional module %s: %v", m.Name, err)
				continue
			}
			t.Errorf("kmodule.Probe(%s): %v", m.Name, err)
			continue
		}
		for _, p := range loaded {
			if _, err := os.Stat(p); err != nil {
				t.Errorf("probing %s loads %s, which is not in the initramfs", m.Name, p)
			}
		}
	}
}

// TestReproducibleReal: the real initramfs, built twice, is the same.
func TestReproducibleReal(t *testing.T) {
	parts := imagetest.Parts(t)
	init := imagetest.Init(t, testInit)
	a, err := image.Initramfs{Init: init, Parts: parts}.Build()
	if err != nil {
		t.Fatal(err)
	}
	b, err := image.Initramfs{Init: init, Parts: parts}.Build()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("two initramfs builds differ (%d and %d bytes)", len(a), len(b))
	}
}

// BenchmarkImage builds the whole image with the packages cached and
// reports the goals: build time (≤60 s), image and initramfs sizes
// (≤128 MiB, ≤16 MiB), as values and as ratios to the goal (x-of-…).
func BenchmarkImage(b *testing.B) {
	imagetest.Parts(b)
	// The real camwire-init, so the initramfs size is the shipped one.
	init := imagetest.Init(b, "github.com/camwire/camwire/cmd/camwire-init")
	out := filepath.Join(b.TempDir(), "camwire.img")
	var r image.Result
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var err error
		if r, err = image.Build(context.Background(), image.Options{Out: out, Init: init}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	fi, _ := os.Stat(out)
	b.ReportMetric(r.Took.Seconds(), "s-build")
	b.ReportMetric(r.Took.Seconds()/60, "x-of-60s-goal")
	b.ReportMetric(float64(fi.Size())/(1<<20), "MiB-image")
	b.ReportMetric(float64(fi.Size())/(128<<20), "x-of-128MiB-goal")
	var used int
	for _, f := range r.ImageFiles {
		used += len(f)
	}
	b.ReportMetric(float64(used)/(1<<20), "MiB-files") // what the card holds; the rest is free
	b.ReportMetric(float64(r.InitramfsSize)/(1<<20), "MiB-initramfs")
	b.ReportMetric(float64(r.InitramfsSize)/(16<<20), "x-of-16MiB-goal")
}

// TestCmdlineConsolesAsDebian: cmdline.txt names the serial console as
// Debian's own raspi-firmware does for the arm64 Pis (its kernel postinst
// script, from the cached package), plus the HDMI screen, last so that
// it is /dev/console.
func TestCmdlineConsolesAsDebian(t *testing.T) {
	parts := imagetest.Parts(t)
	script, err := os.ReadFile(filepath.Join(parts.FirmwareRoot, "etc", "kernel", "postinst.d", "z50-raspi-firmware"))
	if err != nil {
		t.Fatal(err)
	}
	// The script's arm64 branch:
	//   if [ -e /dev/ttyS1 ] ; then
	//     # ttyS1 is used in arm64 (RPi families 3, 4)
	//     pre_cmdline="$pre_cmdline console=ttyS1,115200"
	debian := regexp.MustCompile(`# ttyS1 is used in arm64[^\n]*\n\s*pre_cmdline="\$pre_cmdline (console=\S+)"`).FindSubmatch(script)
	if debian == nil {
		t.Fatalf("raspi-firmware's postinst script has no arm64 console line:\n%s", script)
	}
	cmdline, err := image.RenderCmdline(image.CmdlineTxt{})
	if err != nil {
		t.Fatal(err)
	}
	var consoles []string
	for _, a := range strings.Fields(string(cmdline)) {
		if strings.HasPrefix(a, "console=") {
			consoles = append(consoles, a)
		}
	}
	if diff := cmp.Diff([]string{string(debian[1]), "console=tty1"}, consoles); diff != "" {
		t.Errorf("cmdline.txt %q consoles (-want: raspi-firmware's arm64 UART, then HDMI; +got):\n%s", cmdline, diff)
	}
}

// TestBuildInitStampsCommit: the binary BuildInit makes names the
// checkout's commit (the boot report's camwire version), even where the
// builder's GOFLAGS turn VCS stamping off, as on this project's machines.
func TestBuildInitStampsCommit(t *testing.T) {
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	top, _ := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if fi, err := os.Stat(filepath.Join(strings.TrimSpace(string(top)), ".git")); err != nil || !fi.IsDir() {
		// The go command finds a repository only by a .git directory.
		t.Skip("a git worktree (.git is a file): the go command stamps no commit here")
	}
	t.Setenv("GOFLAGS", "-buildvcs=false")
	b, err := image.BuildInit(context.Background(), "./testdata/hello")
	if err != nil {
		t.Fatal(err)
	}
	bi, err := buildinfo.Read(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var got string
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			got = s.Value
		}
	}
	if want := strings.TrimSpace(string(head)); got != want {
		t.Errorf("vcs.revision = %q, want HEAD %q", got, want)
	}
}
