package image

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/camwire/camwire/config"
	"github.com/camwire/camwire/image/bootpkg"
	"github.com/google/go-cmp/cmp"
	"github.com/u-root/u-root/pkg/cpio"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// fakeParts is a kernel tree with a few modules and a modules.dep, enough
// to build an initramfs without the Debian packages.
func fakeParts(t *testing.T) bootpkg.Parts {
	t.Helper()
	root := t.TempDir()
	p := bootpkg.Parts{KernelVersion: "6.1.0-0-arm64", KernelRoot: root}
	mods := map[string]string{
		"kernel/drivers/virtio/virtio_pci.ko":         "",
		"kernel/drivers/virtio/virtio_pci_modern.ko":  "",
		"kernel/drivers/net/virtio_net.ko":            "kernel/net/core/failover.ko",
		"kernel/net/core/failover.ko":                 "",
		"kernel/drivers/mmc/host/sdhci-iproc.ko":      "kernel/fs/nls/nls_iso8859-1.ko",
		"kernel/fs/nls/nls_iso8859-1.ko":              "",
		"kernel/drivers/media/test-drivers/vivid.ko":  "",
		"kernel/drivers/unrelated/not_wanted.ko":      "",
		"kernel/drivers/net/ethernet/broadcom/big.ko": "",
	}
	var dep strings.Builder
	for m, d := range mods {
		f := filepath.Join(p.ModulesDir(), m)
		os.MkdirAll(filepath.Dir(f), 0o755)
		os.WriteFile(f, []byte("module "+m), 0o644)
		fmt.Fprintf(&dep, "%s: %s\n", m, d)
	}
	os.WriteFile(filepath.Join(p.ModulesDir(), "modules.dep"), []byte(dep.String()), 0o644)
	os.WriteFile(filepath.Join(p.ModulesDir(), "modules.builtin"), []byte("kernel/drivers/mmc/core/mmc_block.ko\n"), 0o644)
	os.WriteFile(filepath.Join(p.ModulesDir(), "modules.alias"), []byte("alias virtio:d00000001v* virtio_net\nalias pci:v1* not_wanted\n"), 0o644)
	return p
}

var fakeModules = []Module{
	{Name: "virtio_pci"}, {Name: "virtio-net"}, {Name: "sdhci_iproc"}, {Name: "mmc_block"}, {Name: "nls_utf8", Optional: true},
}

func TestSelectModules(t *testing.T) {
	p := fakeParts(t)
	set, err := selectModules(p.ModulesDir(), fakeModules)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"kernel/drivers/mmc/host/sdhci-iproc.ko", "kernel/drivers/net/virtio_net.ko", "kernel/drivers/virtio/virtio_pci.ko", "kernel/fs/nls/nls_iso8859-1.ko", "kernel/net/core/failover.ko"}
	if diff := cmp.Diff(want, set.Files); diff != "" {
		t.Errorf("Files (-want +got), want the closure, dashes and underscores alike, built-ins without files:\n%s", diff)
	}
	if diff := cmp.Diff([]string{"nls_utf8"}, set.Missing); diff != "" {
		t.Errorf("Missing (-want +got):\n%s", diff)
	}
	if !strings.Contains(set.Dep, "kernel/drivers/net/virtio_net.ko: kernel/net/core/failover.ko\n") || strings.Contains(set.Dep, "not_wanted") {
		t.Errorf("Dep =\n%s\nwant virtio_net's line with its dependency and nothing unchosen", set.Dep)
	}
	if !strings.Contains(set.Dep, "kernel/drivers/mmc/host/sdhci_iproc.ko: kernel/fs/nls/nls_iso8859_1.ko\n") {
		t.Errorf("Dep =\n%s\nwant file names with underscores only (u-root's kmodule cannot find nls_iso8859-1.ko)", set.Dep)
	}
	if set.Alias != "alias virtio:d00000001v* virtio_net\n" {
		t.Errorf("Alias = %q, want only virtio_net's alias", set.Alias)
	}

	_, err = selectModules(p.ModulesDir(), []Module{{Name: "no_such_mod", Why: "testing"}})
	if err == nil || !strings.Contains(err.Error(), "no_such_mod (testing)") {
		t.Errorf("selectModules(missing required) = %v, want an error naming the module and why", err)
	}
}

// readArchive unpacks a gzip'd newc archive into records.
func readArchive(t *testing.T, b []byte) map[string]cpio.Record {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
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
	m := map[string]cpio.Record{}
	for _, r := range recs {
		m[r.Name] = r
	}
	return m
}

func TestInitramfsContents(t *testing.T) {
	p := fakeParts(t)
	b, err := Initramfs{Init: []byte("#!init"), Parts: p, Modules: fakeModules}.Build()
	if err != nil {
		t.Fatal(err)
	}
	recs := readArchive(t, b)
	md := "lib/modules/6.1.0-0-arm64/"
	for _, tc := range []struct {
		name string
		mode uint64
		body string
	}{
		{"init", cpio.S_IFREG | 0o755, "#!init"},
		{"dev", cpio.S_IFDIR | 0o755, ""},
		{"proc", cpio.S_IFDIR | 0o755, ""},
		{"dev/console", cpio.S_IFCHR | 0o600, ""},
		{md + "kernel/net/core/failover.ko", cpio.S_IFREG | 0o644, "module kernel/net/core/failover.ko"},
		{md + "modules.dep", cpio.S_IFREG | 0o644, ""},
		{md + "kernel/fs/nls/nls_iso8859_1.ko", cpio.S_IFREG | 0o644, "module kernel/fs/nls/nls_iso8859-1.ko"},
	} {
		r, ok := recs[tc.name]
		if !ok {
			t.Errorf("initramfs has no %s", tc.name)
			continue
		}
		if r.Mode != tc.mode {
			t.Errorf("%s: mode %o, want %o", tc.name, r.Mode, tc.mode)
		}
		if tc.body != "" {
			got, _ := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
			if string(got) != tc.body {
				t.Errorf("%s = %q, want %q", tc.name, got, tc.body)
			}
		}
		if r.MTime != 0 || r.UID != 0 {
			t.Errorf("%s: mtime %d uid %d, want 0 (reproducible)", tc.name, r.MTime, r.UID)
		}
	}
	if c := recs["dev/console"]; c.Rmajor != 5 || c.Rminor != 1 {
		t.Errorf("dev/console is %d,%d, want 5,1", c.Rmajor, c.Rminor)
	}
	if _, ok := recs[md+"kernel/drivers/unrelated/not_wanted.ko"]; ok {
		t.Error("initramfs carries a module nobody asked for")
	}
}

// TestReproducible: two builds from the same inputs are byte-identical
// (no time stamps, owners, host inode numbers or map order leak in).
func TestReproducible(t *testing.T) {
	p := fakeParts(t)
	ir := Initramfs{Init: []byte("#!init"), Parts: p, Modules: fakeModules, Extra: map[string][]byte{"bin/a": []byte("a"), "bin/b": []byte("b")}}
	a, err := ir.Build()
	if err != nil {
		t.Fatal(err)
	}
	// Rewrite every input file: new mtimes, modes and inode numbers
	// must not matter. Each step must work, or the second build proves
	// nothing.
	touched := 0
	err = filepath.WalkDir(p.KernelRoot, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.Remove(path); err != nil {
			return err
		}
		touched++
		return os.WriteFile(path, b, 0o600)
	})
	if err != nil {
		t.Fatalf("touching the inputs: %v", err)
	}
	if touched == 0 {
		t.Fatalf("no input files under %s to touch", p.KernelRoot)
	}
	b, err := ir.Build()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("two builds differ: %d and %d bytes", len(a), len(b))
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./image -run %s -update writes it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (-update rewrites it):\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}

func TestRenderConfigGolden(t *testing.T) {
	got, err := RenderConfig(ConfigTxt{Kernel: "vmlinuz-6.1.0-0-arm64", Initramfs: InitramfsName, GPUMem: 128})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "config.txt", got)
}

func TestRenderCmdlineGolden(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra []string
	}{
		{"cmdline.txt", nil},
		{"cmdline-extra.txt", []string{"camwire.debug=yes", "camwire.source=testsrc"}},
	} {
		got, err := RenderCmdline(CmdlineTxt{Extra: tc.extra})
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Count(got, []byte("\n")) != 1 {
			t.Errorf("%s has %d lines, want 1: the firmware reads only the first", tc.name, bytes.Count(got, []byte("\n")))
		}
		golden(t, tc.name, got)
	}
	if _, err := RenderCmdline(CmdlineTxt{Extra: []string{"a b"}}); err == nil {
		t.Error("RenderCmdline(argument with a space) succeeded")
	}
}

func TestSetSettings(t *testing.T) {
	def, err := DefaultSettings()
	if err != nil {
		t.Fatal(err)
	}
	out, err := SetSettings(def, map[string]string{"name": "pi-garden", "address": "10.1.2.3/24", "receiver": "10.1.2.1:10401"})
	if err != nil {
		t.Fatal(err)
	}
	// The recorder's own parser is the judge.
	c := config.Default()
	if probs := c.ApplyFile(SettingsName, bytes.NewReader(out)); len(probs) > 0 {
		t.Fatalf("config.ApplyFile: %v", probs)
	}
	if c.Name != "pi-garden" || c.Address.String() != "10.1.2.3/24" || c.Receiver != "10.1.2.1:10401" {
		t.Errorf("after SetSettings: name %q address %v receiver %q, want pi-garden 10.1.2.3/24 10.1.2.1:10401", c.Name, c.Address, c.Receiver)
	}
	if n := strings.Count(string(out), "\nname="); n != 1 {
		t.Errorf("name= appears %d times, want 1 (in place of its commented default)", n)
	}
	if len(strings.Split(string(out), "\n")) != len(strings.Split(string(def), "\n")) {
		t.Error("SetSettings changed the number of lines for keys the file documents")
	}

	for _, tc := range []struct {
		name   string
		in     string
		values map[string]string
		want   string
	}{
		{"replaces commented default", "# doc\n#fps=30\n", map[string]string{"fps": "25"}, "# doc\nfps=25\n"},
		{"replaces set value", "fps = 30\n", map[string]string{"fps": "25"}, "fps=25\n"},
		{"appends unknown", "#fps=30\n", map[string]string{"extra": "1"}, "#fps=30\nextra=1\n"},
		{"does not match prefix", "#fpsx=1\n", map[string]string{"fps": "2"}, "#fpsx=1\nfps=2\n"},
	} {
		got, err := SetSettings([]byte(tc.in), tc.values)
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: SetSettings(%q, %v) = %q, %v; want %q", tc.name, tc.in, tc.values, got, err, tc.want)
		}
	}
	if _, err := SetSettings(nil, map[string]string{"a": "x\ny"}); err == nil {
		t.Error("SetSettings(value with a line break) succeeded")
	}
}

// fsckPartition extracts the boot partition and runs the real fsck.vfat
// on it, read-only.
func fsckPartition(t *testing.T, img string) {
	t.Helper()
	if _, err := exec.LookPath("fsck.vfat"); err != nil {
		requireTool(t, "fsck.vfat (Debian package dosfstools)")
	}
	raw, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(t.TempDir(), "part.img")
	if err := os.WriteFile(part, raw[PartitionOffset:], 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("fsck.vfat", "-n", part).CombinedOutput()
	if err != nil {
		t.Fatalf("fsck.vfat -n: %v\n%s", err, out)
	}
	// "Free cluster summary uninitialized" or "… wrong": FSInfo is not
	// filled in as mkfs.vfat and the kernel keep it.
	if bytes.Contains(out, []byte("Free cluster summary")) {
		t.Errorf("fsck.vfat -n complains about FSInfo:\n%s", out)
	}
	t.Logf("fsck.vfat -n: %s", bytes.TrimSpace(out))
}

func requireTool(t *testing.T, what string) {
	t.Helper()
	if os.Geteuid() == 0 {
		t.Fatalf("%s missing (make test installs it with scripts/deps.sh)", what)
	}
	t.Skipf("skipping: %s missing", what)
}

func TestWriteDisk(t *testing.T) {
	img := filepath.Join(t.TempDir(), "disk.img")
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<20) // 16 MiB, many clusters
	files := map[string][]byte{
		"config.txt":            []byte("arm_64bit=1\n"),
		"vmlinuz-6.1.0-0-arm64": big,
		"camwire.txt":           []byte("#name=camwire\n"),
	}
	if err := WriteDisk(img, 64<<20, files); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 64<<20 {
		t.Errorf("image is %d bytes, want %d", len(raw), 64<<20)
	}
	// MBR: first partition entry at 446; type at +4, start LBA at +8.
	if raw[510] != 0x55 || raw[511] != 0xaa {
		t.Errorf("MBR signature % x, want 55 aa", raw[510:512])
	}
	if raw[446+4] != 0x0c {
		t.Errorf("partition type %#x, want 0x0c (FAT32 LBA)", raw[446+4])
	}
	if start := uint32(raw[446+8]) | uint32(raw[446+9])<<8 | uint32(raw[446+10])<<16 | uint32(raw[446+11])<<24; start != partitionStart {
		t.Errorf("partition starts at sector %d, want %d", start, partitionStart)
	}
	if string(raw[PartitionOffset+82:PartitionOffset+90]) != "FAT32   " {
		t.Errorf("file system type %q, want FAT32", raw[PartitionOffset+82:PartitionOffset+90])
	}
	fsckPartition(t, img)

	for name, want := range files {
		got, err := ReadDiskFile(img, name)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("ReadDiskFile(%s) = %d bytes, %v; want the %d bytes written", name, len(got), err, len(want))
		}
	}
	// And with an independent reader, mtools.
	if _, err := exec.LookPath("mcopy"); err != nil {
		requireTool(t, "mcopy (Debian package mtools)")
	}
	out := filepath.Join(t.TempDir(), "k")
	if b, err := exec.Command("mcopy", "-n", "-i", fmt.Sprintf("%s@@%d", img, PartitionOffset), "::vmlinuz-6.1.0-0-arm64", out).CombinedOutput(); err != nil {
		t.Fatalf("mcopy: %v: %s", err, b)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, big) {
		t.Errorf("mcopy read %d bytes back, want the %d written", len(got), len(big))
	}
}

func TestWriteDiskErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		size  int64
		files map[string][]byte
		want  string
	}{
		{"not a power of two", 100 << 20, nil, "power of two"},
		{"too full", 8 << 20, map[string][]byte{"big": make([]byte, 5<<20)}, "do not fit"},
		{"folder", 8 << 20, map[string][]byte{"overlays/x.dtbo": nil}, "folders are not supported"},
	} {
		err := WriteDisk(filepath.Join(dir, "x.img"), tc.size, tc.files)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: WriteDisk = %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

// TestWriteDiskFile edits files of a written image in place, as a user
// edits camwire.txt on the card: each edit must read back exactly, leave
// the other files alone and keep fsck.vfat content (no lost or
// cross-linked clusters from a shrunk or grown file).
func TestWriteDiskFile(t *testing.T) {
	img := filepath.Join(t.TempDir(), "disk.img")
	other := bytes.Repeat([]byte("kernel"), 100000)
	if err := WriteDisk(img, 64<<20, map[string][]byte{
		"camwire.txt": bytes.Repeat([]byte("#name=camwire\n"), 5000), // 70 kB, many clusters
		"vmlinuz":     other,
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, file string
		data       []byte
	}{
		{"shrink", "camwire.txt", []byte("name=garden\nreceiver=10.0.2.2:10401\n")},
		{"grow", "camwire.txt", bytes.Repeat([]byte("#address=192.168.77.2/24\n"), 8000)},
		{"comment only", "camwire.txt", []byte("#\n")},
		// More than io.ReadAll's first 512-byte read, less than a
		// cluster: go-diskfs reads past the end from inside a cluster.
		{"less than a cluster", "camwire.txt", bytes.Repeat([]byte("#fps=30\n"), 362)},
		{"create", "new.txt", []byte("hello\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := WriteDiskFile(img, tc.file, tc.data); err != nil {
				t.Fatal(err)
			}
			if got, err := ReadDiskFile(img, tc.file); err != nil || !bytes.Equal(got, tc.data) {
				t.Errorf("ReadDiskFile(%s) = %d bytes, %v; want the %d bytes written", tc.file, len(got), err, len(tc.data))
			}
			// An independent reader, mtools, sees the same bytes.
			if _, err := exec.LookPath("mcopy"); err != nil {
				requireTool(t, "mcopy (Debian package mtools)")
			}
			out := filepath.Join(t.TempDir(), "f")
			if b, err := exec.Command("mcopy", "-n", "-i", fmt.Sprintf("%s@@%d", img, PartitionOffset), "::"+tc.file, out).CombinedOutput(); err != nil {
				t.Fatalf("mcopy: %v: %s", err, b)
			}
			if got, _ := os.ReadFile(out); !bytes.Equal(got, tc.data) {
				t.Errorf("mcopy read %d bytes of %s, want the %d written", len(got), tc.file, len(tc.data))
			}
			if got, err := ReadDiskFile(img, "vmlinuz"); err != nil || !bytes.Equal(got, other) {
				t.Errorf("ReadDiskFile(vmlinuz) after editing %s = %d bytes, %v; want it unchanged", tc.file, len(got), err)
			}
			fsckPartition(t, img)
		})
	}
	if err := WriteDiskFile(img, "sub/x.txt", []byte("x")); err == nil {
		t.Error("WriteDiskFile(sub/x.txt) succeeded; the boot partition has no folders")
	}
	if err := WriteDiskFile(img, "camwire.txt", nil); err == nil {
		t.Error("WriteDiskFile(camwire.txt, empty) succeeded; go-diskfs cannot write an empty file fsck accepts")
	}
}
