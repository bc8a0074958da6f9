package bootpkg

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Userland packages are the opposite of the boot packages: camwire's
// image holds none, but a guest that measures camwire against the
// shell-script recorder it replaces (cat FILE | nc HOST PORT) needs the
// real arm64 cat, sh and nc, with the shared libraries they load. They
// come the same way as the kernel: the machine's own apt, the package
// index's SHA256, the cache.

// Package is one fetched, verified and unpacked arm64 package.
type Package struct {
	Name, Version string
	// Root is the package unpacked with dpkg -x.
	Root string
}

// FetchPackages fetches the named arm64 packages and, recursively, the
// shared library packages they depend on, and returns them all, the named
// ones first. Only dependencies named lib* are followed: Debian names
// every shared library package so (policy 8.1; the dynamic linker is
// in libc6), and the rest of a program's Depends (dash's debianutils,
// libgcc-s1's gcc-12-base) are tools and data a program does not load.
func (f *Fetcher) FetchPackages(ctx context.Context, names ...string) ([]Package, error) {
	cache := f.cache()
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return nil, err
	}
	unlock, err := lockFile(filepath.Join(cache, "lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	a := f.apt()
	if err := f.freshIndex(ctx, a); err != nil {
		return nil, err
	}
	var out []Package
	seen := map[string]bool{}
	// Breadth first, one apt-cache call per level: each call reads the
	// whole index, seconds on a loaded machine.
	for level := slices.Clone(names); len(level) > 0; {
		for _, n := range level {
			seen[n] = true
		}
		sts, err := a.showAll(ctx, level)
		if err != nil {
			return nil, err
		}
		var next []string
		for _, name := range level {
			st := sts[name]
			p := pkg{Name: name, Version: st.Version, SHA256: st.SHA256}
			deb, err := f.download(ctx, p)
			if err != nil {
				return nil, err
			}
			root, err := f.unpack(ctx, p, deb, nil)
			if err != nil {
				return nil, err
			}
			out = append(out, Package{Name: name, Version: p.Version, Root: root})
			for _, d := range dependencyNames(st.PreDepends + ", " + st.Depends) {
				if strings.HasPrefix(d, "lib") && !seen[d] {
					seen[d] = true
					next = append(next, d)
				}
			}
		}
		level = next
	}
	return out, nil
}

// freshIndex sets up the private apt configuration and runs apt-get
// update when its index is missing or older than MaxListAge. A failed
// update with an older index still there carries on with that index (the
// SHA256 checks still hold); without any index it is an error.
func (f *Fetcher) freshIndex(ctx context.Context, a aptConfig) error {
	if err := a.setup(f.sourcesDir()); err != nil {
		return err
	}
	age, ok := a.listAge()
	if ok && age <= f.maxListAge() {
		return nil
	}
	f.logf("fetch: apt-get update (arm64, main non-free-firmware)")
	err := a.update(ctx)
	if err != nil && ok {
		f.logf("fetch: apt-get update failed, using the index from %v ago: %v", age.Round(1e9), firstLine(err))
		return nil
	}
	return err
}

// dependencyNames lists the package names of a Depends field: the first
// of each set of alternatives (apt's own choice when none is installed),
// without version constraints or architecture qualifiers.
// "libc6 (>= 2.34), libfoo1:any | libbar1" → [libc6 libfoo1].
func dependencyNames(field string) []string {
	var names []string
	for _, entry := range strings.Split(field, ",") {
		first, _, _ := strings.Cut(entry, "|")
		name, _, _ := strings.Cut(strings.TrimSpace(first), " ")
		name, _, _ = strings.Cut(name, "(")
		name, _, _ = strings.Cut(name, ":")
		if name != "" && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names
}
