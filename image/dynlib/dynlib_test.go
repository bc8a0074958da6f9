package dynlib_test

import (
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/camwire/camwire/image/bootpkg"
	"github.com/camwire/camwire/image/dynlib"
	"github.com/camwire/camwire/image/imagetest"
	"github.com/google/go-cmp/cmp"
)

// lddRE is one line of ldd's output that names a file it loads:
// "libbsd.so.0 => /lib/x86_64-linux-gnu/libbsd.so.0 (0x…)" or
// "/lib64/ld-linux-x86-64.so.2 (0x…)".
var lddRE = regexp.MustCompile(`^\s*(?:\S+ => )?(/\S+) \(0x[0-9a-f]+\)$`)

// TestClosureMatchesLdd: on this machine's own nc (libbsd pulls in libmd,
// so the closure is more than one level deep), Closure finds the files the
// real dynamic linker loads, as ldd reports them.
func TestClosureMatchesLdd(t *testing.T) {
	nc, err := exec.LookPath("nc.openbsd")
	if err != nil {
		imagetest.Require(t, err)
	}
	out, err := exec.Command("ldd", nc).CombinedOutput()
	if err != nil {
		t.Fatalf("ldd %s: %v\n%s", nc, err, out)
	}
	var want []string
	for _, l := range strings.Split(string(out), "\n") {
		if m := lddRE.FindStringSubmatch(l); m != nil {
			want = append(want, path.Base(m[1]))
		}
	}
	got, err := dynlib.Closure([]string{"/"}, nc)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for p := range got {
		if p != strings.TrimPrefix(nc, "/") {
			names = append(names, path.Base(p))
		}
	}
	// The dynamic linker is both nc's interpreter and a library libc
	// needs: two paths, one file to ldd.
	slices.Sort(want)
	slices.Sort(names)
	names = slices.Compact(names)
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("Closure(%s) vs ldd (-ldd +Closure):\n%s", nc, diff)
	}
}

// TestClosureInRoot: links are followed inside the root, an absolute
// target included, and a library no root has is an error naming it.
func TestClosureInRoot(t *testing.T) {
	nc, err := exec.LookPath("nc.openbsd")
	if err != nil {
		imagetest.Require(t, err)
	}
	host, err := dynlib.Closure([]string{"/"}, nc)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	// usr-merged layout with an absolute link, and every file one more
	// link away from where the loader asks for it.
	must(t, os.MkdirAll(filepath.Join(root, "usr/lib/real"), 0o755))
	must(t, os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755))
	must(t, os.Symlink("usr/lib", filepath.Join(root, "lib")))
	must(t, os.Symlink("usr/lib", filepath.Join(root, "lib64")))
	var libs []string
	for p, f := range host {
		if p == strings.TrimPrefix(nc, "/") {
			copyFile(t, f, filepath.Join(root, "usr/bin/nc"))
			continue
		}
		base := path.Base(p)
		if slices.Contains(libs, base) {
			continue // the dynamic linker, under two paths
		}
		libs = append(libs, base)
		copyFile(t, f, filepath.Join(root, "usr/lib/real", base))
		must(t, os.Symlink("/usr/lib/real/"+base, filepath.Join(root, "usr/lib", base)))
	}
	got, err := dynlib.Closure([]string{root}, "usr/bin/nc")
	if err != nil {
		t.Fatal(err)
	}
	machine := elfMachine(t, nc)
	for _, base := range libs {
		found := false
		for p, f := range got {
			if path.Base(p) == base && f == filepath.Join(root, "usr/lib/real", base) {
				found = true
			}
		}
		if !found {
			t.Errorf("Closure in %s: no %s from the root's usr/lib/real (search dirs %v): %v", root, base, dynlib.SearchDirs(machine), got)
		}
	}

	os.Remove(filepath.Join(root, "usr/lib/real/libmd.so.0"))
	_, err = dynlib.Closure([]string{root}, "usr/bin/nc")
	if err == nil || !strings.Contains(err.Error(), "libbsd.so.0 needs libmd.so.0") {
		t.Errorf("Closure without libmd: %v, want an error saying libbsd.so.0 needs libmd.so.0", err)
	}
}

// TestClosureArm64Netcat fetches Debian's arm64 netcat-openbsd with the
// shared libraries it depends on (cached in ~/.cache/camwire) and checks
// the closure of nc is the files an arm64 initramfs needs for it.
func TestClosureArm64Netcat(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	pkgs, err := bootpkg.FetcherFromEnv(t.Logf).FetchPackages(ctx, "netcat-openbsd")
	imagetest.Require(t, err)
	var names, roots []string
	for _, p := range pkgs {
		names = append(names, p.Name)
		roots = append(roots, p.Root)
	}
	// libgcc-s1 comes as libc6's Depends; its gcc-12-base is not lib*.
	if diff := cmp.Diff([]string{"netcat-openbsd", "libbsd0", "libc6", "libmd0", "libgcc-s1"}, names); diff != "" {
		t.Errorf("FetchPackages(netcat-openbsd) (-want +got):\n%s", diff)
	}
	got, err := dynlib.Closure(roots, "bin/nc.openbsd")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for p, f := range got {
		files = append(files, p)
		if m := elfMachine(t, f); m != elf.EM_AARCH64 {
			t.Errorf("%s (%s) is for %v, want EM_AARCH64", p, f, m)
		}
	}
	slices.Sort(files)
	want := []string{
		"bin/nc.openbsd",
		// libc's DT_NEEDED: the same file as the interpreter below.
		"lib/aarch64-linux-gnu/ld-linux-aarch64.so.1",
		"lib/aarch64-linux-gnu/libc.so.6",
		"lib/aarch64-linux-gnu/libresolv.so.2",
		"lib/ld-linux-aarch64.so.1",
		"usr/lib/aarch64-linux-gnu/libbsd.so.0",
		"usr/lib/aarch64-linux-gnu/libmd.so.0",
	}
	if diff := cmp.Diff(want, files); diff != "" {
		t.Errorf("Closure(arm64 nc) (-want +got):\n%s", diff)
	}
}

func elfMachine(t *testing.T, file string) elf.Machine {
	t.Helper()
	f, err := elf.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return f.Machine
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	must(t, err)
	must(t, os.WriteFile(to, b, 0o755))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
