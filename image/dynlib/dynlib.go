// Package dynlib finds what a dynamically linked program loads: its ELF
// interpreter (the dynamic linker) and the closure of its DT_NEEDED
// shared libraries, looked up in unpacked Debian packages rather than on
// this machine, so an arm64 initramfs can carry a real Debian program
// (nc, cat, sh) with exactly the files it needs. It reads the ELF headers
// with debug/elf instead of running ldd, which cannot run a foreign
// architecture's binary.
package dynlib

import (
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Closure returns the files program needs to run, as path inside the
// root file system → file on this machine: program itself, its
// interpreter and every library it loads, directly or through another
// library. program is a path inside the root file system (e.g.
// "bin/nc.openbsd"); roots are directories laid out like that file
// system (unpacked packages), searched in order. Symbolic links are
// followed inside the root they are found in (an absolute link target is
// that root's, not this machine's), and each file is returned under the
// path the loader asks for, so the caller writes plain files and needs no
// links. A library found in no root is an error that names it and who
// needs it.
func Closure(roots []string, program string) (map[string]string, error) {
	out := map[string]string{}
	prog, err := find(roots, program)
	if err != nil {
		return nil, err
	}
	out[clean(program)] = prog
	type job struct{ file, who string }
	queue := []job{{prog, program}}
	seen := map[string]bool{}
	for len(queue) > 0 {
		j := queue[0]
		queue = queue[1:]
		interp, needed, machine, err := read(j.file)
		if err != nil {
			return nil, fmt.Errorf("dynlib: %s: %w", j.who, err)
		}
		if interp != "" && out[clean(interp)] == "" {
			f, err := find(roots, interp)
			if err != nil {
				return nil, fmt.Errorf("dynlib: %s's interpreter: %w", j.who, err)
			}
			out[clean(interp)] = f
		}
		for _, soname := range needed {
			if seen[soname] {
				continue
			}
			seen[soname] = true
			var found bool
			for _, dir := range SearchDirs(machine) {
				p := path.Join(dir, soname)
				f, err := find(roots, p)
				if errors.Is(err, fs.ErrNotExist) {
					continue
				}
				if err != nil {
					return nil, err
				}
				out[clean(p)] = f
				queue = append(queue, job{f, soname})
				found = true
				break
			}
			if !found {
				return nil, fmt.Errorf("dynlib: %s needs %s, which is in none of %v under %v", j.who, soname, SearchDirs(machine), roots)
			}
		}
	}
	return out, nil
}

// SearchDirs are the directories Debian's dynamic linker searches with no
// ld.so.cache and no LD_LIBRARY_PATH, as an initramfs has: the multiarch
// ones first (glibc's slibdir and libdir on Debian), then /lib and
// /usr/lib.
func SearchDirs(m elf.Machine) []string {
	var dirs []string
	if t := multiarch[m]; t != "" {
		dirs = append(dirs, "lib/"+t, "usr/lib/"+t)
	}
	return append(dirs, "lib", "usr/lib")
}

// multiarch are Debian's multiarch tuples of the machines camwire meets.
var multiarch = map[elf.Machine]string{
	elf.EM_AARCH64: "aarch64-linux-gnu",
	elf.EM_X86_64:  "x86_64-linux-gnu",
	elf.EM_ARM:     "arm-linux-gnueabihf",
}

// read returns an ELF file's interpreter (PT_INTERP, "" for a static
// program or a library), its DT_NEEDED names and its machine.
func read(file string) (interp string, needed []string, m elf.Machine, err error) {
	f, err := elf.Open(file)
	if err != nil {
		return "", nil, 0, err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			return "", nil, 0, fmt.Errorf("reading PT_INTERP: %w", err)
		}
		interp = strings.TrimRight(string(b), "\x00")
	}
	needed, err = f.ImportedLibraries()
	if err != nil {
		return "", nil, 0, err
	}
	return interp, needed, f.Machine, nil
}

// find returns the file at p (a path inside the root file system) in the
// first root that has it, with symbolic links resolved inside that root.
func find(roots []string, p string) (string, error) {
	for _, root := range roots {
		f, err := resolve(root, clean(p))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		return f, err
	}
	return "", fmt.Errorf("/%s is in none of %v: %w", clean(p), roots, fs.ErrNotExist)
}

// resolve follows p's symbolic links component by component, as the
// kernel would with root as "/".
func resolve(root, p string) (string, error) {
	parts := strings.Split(p, "/")
	var done []string
	for hops := 0; len(parts) > 0; {
		name := parts[0]
		parts = parts[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		cur := filepath.Join(root, filepath.FromSlash(path.Join(append(slices.Clone(done), name)...)))
		fi, err := os.Lstat(cur)
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			done = append(done, name)
			continue
		}
		if hops++; hops > 40 {
			return "", fmt.Errorf("%s: too many levels of symbolic links", cur)
		}
		target, err := os.Readlink(cur)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			done = nil
		}
		parts = append(strings.Split(target, "/"), parts...)
	}
	f := filepath.Join(root, filepath.FromSlash(path.Join(done...)))
	fi, err := os.Stat(f)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", f)
	}
	return f, nil
}

func clean(p string) string { return strings.TrimPrefix(path.Clean("/"+p), "/") }
