package image

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"

	"github.com/camwire/camwire/image/bootpkg"
	"github.com/u-root/u-root/pkg/cpio"
)

// Initramfs describes the Pi's whole userland: camwire-init as /init and
// the kernel modules it loads. Nothing else is needed at run time — the
// root file system is this archive, unpacked by the kernel into RAM.
type Initramfs struct {
	// Init is the static linux/arm64 camwire-init binary.
	Init []byte
	// Parts supplies the kernel modules.
	Parts bootpkg.Parts
	// Modules to carry with their dependencies; nil means AllModules
	// (Modules and what the shipped device trees need).
	Modules []Module
	// Extra files (path in the archive → content, mode 0755), e.g. the
	// debug tools; directories are created.
	Extra map[string][]byte
	// Links are symbolic links (path in the archive → target), e.g.
	// bin/ls → bb.
	Links map[string]string
	// Log receives notes such as optional modules this kernel lacks.
	Log func(format string, args ...any)
}

// Records returns the archive's records in write order: directories
// before what they hold, everything sorted, all metadata reproducible.
func (ir Initramfs) Records() ([]cpio.Record, error) {
	if len(ir.Init) == 0 {
		return nil, fmt.Errorf("initramfs: no init binary")
	}
	mods := ir.Modules
	if mods == nil {
		var err error
		if mods, err = AllModules(ir.Parts); err != nil {
			return nil, err
		}
	}
	set, err := selectModules(ir.Parts.ModulesDir(), mods)
	if err != nil {
		return nil, err
	}
	if len(set.Missing) > 0 && ir.Log != nil {
		ir.Log("initramfs: kernel %s has no optional modules %v", ir.Parts.KernelVersion, set.Missing)
	}

	files := map[string]cpio.Record{}
	addFile := func(name string, content []byte, perm uint64) {
		files[name] = cpio.StaticRecord(content, cpio.Info{Name: name, Mode: cpio.S_IFREG | perm, NLink: 1})
	}
	addFile("init", ir.Init, 0o755)
	modDir := path.Join("lib/modules", ir.Parts.KernelVersion)
	for _, f := range set.Files {
		b, err := os.ReadFile(filepath.Join(ir.Parts.ModulesDir(), filepath.FromSlash(f)))
		if err != nil {
			return nil, fmt.Errorf("initramfs: %w", err)
		}
		addFile(path.Join(modDir, initramfsModulePath(f)), b, 0o644)
	}
	addFile(path.Join(modDir, "modules.dep"), []byte(set.Dep), 0o644)
	addFile(path.Join(modDir, "modules.alias"), []byte(set.Alias), 0o644)
	addFile(path.Join(modDir, "modules.builtin"), []byte(set.Builtin), 0o644)
	for name, b := range ir.Extra {
		addFile(path.Clean(name), b, 0o755)
	}
	for name, target := range ir.Links {
		files[path.Clean(name)] = cpio.Symlink(path.Clean(name), target)
	}

	// Mount points camwire-init uses before anything else exists, and the
	// console the kernel opens as init's stdin/stdout/stderr — a CharDev
	// record, so building needs no root.
	dirs := map[string]bool{"dev": true, "proc": true, "sys": true, "tmp": true, "run": true, "boot": true, "etc": true}
	for name := range files {
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	var recs []cpio.Record
	for d := range dirs {
		recs = append(recs, cpio.Directory(d, 0o755))
	}
	recs = append(recs, cpio.CharDev("dev/console", 0o600, 5, 1))
	for _, r := range files {
		recs = append(recs, r)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Name < recs[j].Name })
	for i := range recs {
		// Distinct inode numbers: the kernel links records that share
		// one (and have NLink > 1); none here should.
		recs[i].Ino = uint64(i + 1)
	}
	cpio.MakeAllReproducible(recs)
	return recs, nil
}

// Build returns the gzip-compressed newc archive. The same inputs give the
// same bytes (no time stamps, owners or host inode numbers in it).
func (ir Initramfs) Build() ([]byte, error) {
	recs, err := ir.Records()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	w := cpio.Newc.Writer(zw)
	if err := cpio.WriteRecords(w, recs); err != nil {
		return nil, fmt.Errorf("initramfs: %w", err)
	}
	if err := cpio.WriteTrailer(w); err != nil {
		return nil, fmt.Errorf("initramfs: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
