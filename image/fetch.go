package image

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The boot parts come from two Debian packages for arm64:
//
//	linux-image-arm64  metapackage; its first dependency names the real
//	                   kernel package, linux-image-<ver>-arm64 (kernel,
//	                   modules, DTBs)
//	raspi-firmware     the GPU firmware that boots a Pi (bootcode.bin,
//	                   start*.elf, fixup*.dat)
//
// They are fetched with the machine's own apt-get, through a private apt
// configuration in the cache directory: the machine's apt setup is never
// changed, and no mirror host name is written into this repository (the
// URIs are read from the machine's apt sources).
const (
	kernelMetaPackage = "linux-image-arm64"
	firmwarePackage   = "raspi-firmware"
)

// Parts are the unpacked boot packages: everything the image is made of
// except camwire's own files.
type Parts struct {
	// KernelVersion is the module directory name, e.g. "6.1.0-37-arm64".
	KernelVersion string
	// KernelRoot is linux-image-<ver>-arm64 unpacked with dpkg -x, plus a
	// modules.dep written by depmod.
	KernelRoot string
	// FirmwareRoot is raspi-firmware unpacked with dpkg -x.
	FirmwareRoot string
}

// Kernel is the path of the uncompressed arm64 Image.
func (p Parts) Kernel() string {
	return filepath.Join(p.KernelRoot, "boot", "vmlinuz-"+p.KernelVersion)
}

// ModulesDir is /lib/modules/<ver> inside the unpacked kernel package.
func (p Parts) ModulesDir() string {
	return filepath.Join(p.KernelRoot, "lib", "modules", p.KernelVersion)
}

// DTB is the path of a Broadcom device tree blob, e.g. "bcm2837-rpi-3-b.dtb".
func (p Parts) DTB(name string) string {
	return filepath.Join(p.KernelRoot, "usr", "lib", "linux-image-"+p.KernelVersion, "broadcom", name)
}

// Firmware is the path of a file from raspi-firmware, e.g. "bootcode.bin".
func (p Parts) Firmware(name string) string {
	return filepath.Join(p.FirmwareRoot, "usr", "lib", "raspi-firmware", name)
}

// Fetcher downloads, verifies, caches and unpacks the boot packages.
// The zero value uses DefaultCache and the machine's apt sources.
type Fetcher struct {
	// Cache holds the private apt state, the .debs by version and their
	// unpacked trees. Empty means DefaultCache().
	Cache string
	// Debs, if set, is a directory of .debs to use instead of apt (offline
	// builds): it must hold one linux-image-<ver>-arm64 and one
	// raspi-firmware package.
	Debs string
	// SourcesDir is where the machine's apt sources are read from; empty
	// means /etc/apt. A seam for tests.
	SourcesDir string
	// MaxListAge is how old the private package index may be before
	// apt-get update runs again; zero means 24 hours.
	MaxListAge time.Duration
	// Log receives one line per step that takes time; nil discards.
	Log func(format string, args ...any)
}

// DefaultCache is $CAMWIRE_CACHE, or ~/.cache/camwire: outside the
// repository, so a clean clone and `make clean` keep the 60 MB download.
func DefaultCache() string {
	if d := os.Getenv("CAMWIRE_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "camwire")
	}
	return filepath.Join(os.TempDir(), "camwire-cache")
}

// FetcherFromEnv is the Fetcher that make targets and tests share:
// CAMWIRE_CACHE and CAMWIRE_DEBS set its directories.
func FetcherFromEnv(log func(string, ...any)) *Fetcher {
	return &Fetcher{Cache: DefaultCache(), Debs: os.Getenv("CAMWIRE_DEBS"), Log: log}
}

func (f *Fetcher) logf(format string, args ...any) {
	if f.Log != nil {
		f.Log(format, args...)
	}
}

func (f *Fetcher) cache() string {
	if f.Cache != "" {
		return f.Cache
	}
	return DefaultCache()
}

// pkg is one resolved binary package.
type pkg struct {
	Name, Version, SHA256 string
}

// debName is the cache file name; ':' (an epoch) is escaped as apt does.
func (p pkg) debName() string {
	return strings.ReplaceAll(p.Name+"_"+p.Version+"_arm64.deb", ":", "%3a")
}

// Fetch makes sure both packages are downloaded, verified and unpacked in
// the cache, and returns where. Concurrent callers (parallel test packages)
// serialise on a lock file in the cache.
func (f *Fetcher) Fetch(ctx context.Context) (Parts, error) {
	cache := f.cache()
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return Parts{}, err
	}
	unlock, err := lockFile(filepath.Join(cache, "lock"))
	if err != nil {
		return Parts{}, err
	}
	defer unlock()

	var kernelDeb, firmwareDeb string
	var kernel, firmware pkg
	if f.Debs != "" {
		kernelDeb, firmwareDeb, err = findDebs(f.Debs)
		if err != nil {
			return Parts{}, err
		}
		if kernel, err = debInfo(ctx, kernelDeb); err != nil {
			return Parts{}, err
		}
		if firmware, err = debInfo(ctx, firmwareDeb); err != nil {
			return Parts{}, err
		}
		// Verify against the index when one is cached from an earlier
		// online run; an offline machine may never have had one.
		a := f.apt()
		for _, c := range []struct {
			p    *pkg
			file string
		}{{&kernel, kernelDeb}, {&firmware, firmwareDeb}} {
			want, err := a.show(ctx, c.p.Name+"="+c.p.Version)
			if err != nil {
				f.logf("fetch: %s: not verified against a package index (%v)", filepath.Base(c.file), firstLine(err))
				continue
			}
			if err := verifySHA256(c.file, want.SHA256); err != nil {
				return Parts{}, err
			}
			c.p.SHA256 = want.SHA256
		}
	} else {
		kernel, firmware, err = f.resolve(ctx)
		if err != nil {
			return Parts{}, err
		}
		if kernelDeb, err = f.download(ctx, kernel); err != nil {
			return Parts{}, err
		}
		if firmwareDeb, err = f.download(ctx, firmware); err != nil {
			return Parts{}, err
		}
	}

	version := strings.TrimPrefix(kernel.Name, "linux-image-")
	kroot, err := f.unpack(ctx, kernel, kernelDeb, func(dir string) error {
		return depmod(ctx, dir, version)
	})
	if err != nil {
		return Parts{}, err
	}
	froot, err := f.unpack(ctx, firmware, firmwareDeb, nil)
	if err != nil {
		return Parts{}, err
	}
	p := Parts{KernelVersion: version, KernelRoot: kroot, FirmwareRoot: froot}
	if _, err := os.Stat(p.Kernel()); err != nil {
		return Parts{}, fmt.Errorf("fetch: %s has no kernel: %w", kernel.Name, err)
	}
	return p, nil
}

// resolve finds the candidate versions in the private index, running
// apt-get update when the index is missing or stale. Offline with a stale
// index, it falls back to the versions resolved last time.
func (f *Fetcher) resolve(ctx context.Context) (kernel, firmware pkg, err error) {
	a := f.apt()
	if err := a.setup(f.sourcesDir()); err != nil {
		return pkg{}, pkg{}, err
	}
	maxAge := f.MaxListAge
	if maxAge == 0 {
		maxAge = 24 * time.Hour
	}
	resolvedFile := filepath.Join(f.cache(), "resolved")
	if age, ok := a.listAge(); !ok || age > maxAge {
		f.logf("fetch: apt-get update (arm64, main non-free-firmware)")
		if err := a.update(ctx); err != nil {
			last, rerr := readResolved(resolvedFile)
			if rerr != nil {
				return pkg{}, pkg{}, fmt.Errorf("fetch: %w (and no earlier resolution to fall back on: %v)", err, rerr)
			}
			f.logf("fetch: apt-get update failed, using the versions resolved before: %v", firstLine(err))
			return last[0], last[1], nil
		}
	}
	meta, err := a.show(ctx, kernelMetaPackage)
	if err != nil {
		return pkg{}, pkg{}, err
	}
	kname := firstDependency(meta.Depends)
	if !strings.HasPrefix(kname, "linux-image-") || !strings.HasSuffix(kname, "-arm64") {
		return pkg{}, pkg{}, fmt.Errorf("fetch: %s depends on %q, want linux-image-<ver>-arm64", kernelMetaPackage, meta.Depends)
	}
	k, err := a.show(ctx, kname)
	if err != nil {
		return pkg{}, pkg{}, err
	}
	fw, err := a.show(ctx, firmwarePackage)
	if err != nil {
		return pkg{}, pkg{}, err
	}
	kernel = pkg{Name: kname, Version: k.Version, SHA256: k.SHA256}
	firmware = pkg{Name: firmwarePackage, Version: fw.Version, SHA256: fw.SHA256}
	if err := writeResolved(resolvedFile, kernel, firmware); err != nil {
		return pkg{}, pkg{}, err
	}
	return kernel, firmware, nil
}

// download returns the cached .deb for p, fetching it with apt-get download
// when missing. Every use is checked against the index's SHA256: a
// truncated download or a corrupted cache is an error, not a boot failure.
func (f *Fetcher) download(ctx context.Context, p pkg) (string, error) {
	dir := filepath.Join(f.cache(), "debs")
	dst := filepath.Join(dir, p.debName())
	if err := verifySHA256(dst, p.SHA256); err == nil {
		return dst, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		f.logf("fetch: cached %s is bad (%v), downloading again", p.debName(), err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(dir, ".download-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	f.logf("fetch: apt-get download %s=%s", p.Name, p.Version)
	a := f.apt()
	if _, err := a.run(ctx, tmp, "apt-get", "download", "-q", p.Name+"="+p.Version); err != nil {
		return "", err
	}
	got, err := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if err != nil || len(got) != 1 {
		return "", fmt.Errorf("fetch: apt-get download %s left %d .deb files, want 1", p.Name, len(got))
	}
	if err := verifySHA256(got[0], p.SHA256); err != nil {
		return "", err
	}
	return dst, os.Rename(got[0], dst)
}

// unpack returns the directory where deb is unpacked, unpacking it (and
// running finish on it) first if needed. The tree is built under a
// temporary name and renamed, so an interrupted unpack is never used.
func (f *Fetcher) unpack(ctx context.Context, p pkg, deb string, finish func(dir string) error) (string, error) {
	root := filepath.Join(f.cache(), "root")
	dst := filepath.Join(root, strings.TrimSuffix(p.debName(), ".deb"))
	if _, err := os.Stat(filepath.Join(dst, ".camwire-unpacked")); err == nil {
		return dst, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	os.RemoveAll(dst)
	tmp, err := os.MkdirTemp(root, ".unpack-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	f.logf("fetch: dpkg -x %s", filepath.Base(deb))
	if out, err := exec.CommandContext(ctx, "dpkg", "-x", deb, tmp).CombinedOutput(); err != nil {
		return "", fmt.Errorf("dpkg -x %s: %v: %s", deb, err, out)
	}
	if finish != nil {
		if err := finish(tmp); err != nil {
			return "", err
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, ".camwire-unpacked"), []byte(p.Name+" "+p.Version+"\n"), 0o644); err != nil {
		return "", err
	}
	// dpkg -x keeps the package's directory modes; make the tree ours to
	// delete later.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", err
	}
	return dst, os.Rename(tmp, dst)
}

// depmod writes modules.dep (and .alias, .builtin.bin …) for a foreign
// kernel tree: the Debian package ships none.
func depmod(ctx context.Context, root, version string) error {
	if out, err := exec.CommandContext(ctx, "depmod", "-b", root, version).CombinedOutput(); err != nil {
		return fmt.Errorf("depmod -b %s %s: %v: %s", root, version, err, out)
	}
	return nil
}

// findDebs picks the kernel and firmware packages out of an offline
// directory; anything ambiguous is an error naming the candidates.
func findDebs(dir string) (kernel, firmware string, err error) {
	ks, _ := filepath.Glob(filepath.Join(dir, "linux-image-*-arm64_*_arm64.deb"))
	var kernels []string
	for _, k := range ks {
		if !strings.Contains(filepath.Base(k), "-dbg_") && !strings.HasPrefix(filepath.Base(k), "linux-image-arm64_") {
			kernels = append(kernels, k)
		}
	}
	fws, _ := filepath.Glob(filepath.Join(dir, "raspi-firmware_*.deb"))
	if len(kernels) != 1 {
		return "", "", fmt.Errorf("CAMWIRE_DEBS=%s: want exactly one linux-image-<ver>-arm64 .deb, found %d %v", dir, len(kernels), kernels)
	}
	if len(fws) != 1 {
		return "", "", fmt.Errorf("CAMWIRE_DEBS=%s: want exactly one raspi-firmware .deb, found %d %v", dir, len(fws), fws)
	}
	return kernels[0], fws[0], nil
}

// debInfo reads a .deb's own name and version.
func debInfo(ctx context.Context, deb string) (pkg, error) {
	out, err := exec.CommandContext(ctx, "dpkg-deb", "-f", deb, "Package", "Version").Output()
	if err != nil {
		return pkg{}, fmt.Errorf("dpkg-deb -f %s: %w", deb, err)
	}
	st := parseStanza(out)
	if st["Package"] == "" || st["Version"] == "" {
		return pkg{}, fmt.Errorf("dpkg-deb -f %s: no Package/Version", deb)
	}
	return pkg{Name: st["Package"], Version: st["Version"]}, nil
}

func verifySHA256(file, want string) error {
	fh, err := os.Open(file)
	if err != nil {
		return err
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return fmt.Errorf("reading %s: %w", file, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%s: sha256 %s, the package index says %s", filepath.Base(file), got, want)
	}
	return nil
}

func (f *Fetcher) sourcesDir() string {
	if f.SourcesDir != "" {
		return f.SourcesDir
	}
	return "/etc/apt"
}

// aptConfig is the private apt configuration: its own sources list, index
// and cache directories under Cache/apt, and arm64 as the only
// architecture.
type aptConfig struct{ dir string }

func (f *Fetcher) apt() aptConfig { return aptConfig{dir: filepath.Join(f.cache(), "apt")} }

func (a aptConfig) options() []string {
	o := []string{
		"-o", "Dir::Etc::SourceList=" + filepath.Join(a.dir, "sources.list"),
		"-o", "Dir::Etc::SourceParts=/dev/null",
		"-o", "Dir::Etc::Preferences=/dev/null",
		"-o", "Dir::Etc::PreferencesParts=/dev/null",
		"-o", "Dir::State::Lists=" + filepath.Join(a.dir, "lists"),
		"-o", "Dir::State::status=" + filepath.Join(a.dir, "status"),
		"-o", "Dir::Cache=" + filepath.Join(a.dir, "cache"),
		"-o", "APT::Architecture=arm64",
		"-o", "APT::Architectures=arm64",
	}
	if os.Geteuid() == 0 {
		// apt's _apt sandbox user cannot write into root's home.
		o = append(o, "-o", "APT::Sandbox::User=root")
	}
	return o
}

// setup writes the private sources list from the machine's sources.
func (a aptConfig) setup(etc string) error {
	srcs, err := readAptSources(etc)
	if err != nil {
		return err
	}
	if len(srcs) == 0 {
		return fmt.Errorf("fetch: no deb sources in %s/sources.list or %s/sources.list.d/*.sources", etc, etc)
	}
	for _, d := range []string{"lists/partial", "cache/archives/partial"} {
		if err := os.MkdirAll(filepath.Join(a.dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(a.dir, "status"), nil, 0o644); err != nil {
		return err
	}
	list := renderSourcesList(srcs)
	path := filepath.Join(a.dir, "sources.list")
	if old, err := os.ReadFile(path); err == nil && string(old) != list {
		// Different mirrors: the old index no longer matches.
		os.Remove(filepath.Join(a.dir, "lists", "lock"))
		ents, _ := os.ReadDir(filepath.Join(a.dir, "lists"))
		for _, e := range ents {
			if !e.IsDir() {
				os.Remove(filepath.Join(a.dir, "lists", e.Name()))
			}
		}
	}
	return os.WriteFile(path, []byte(list), 0o644)
}

// listAge is the age of the newest downloaded index file.
func (a aptConfig) listAge() (time.Duration, bool) {
	ents, err := os.ReadDir(filepath.Join(a.dir, "lists"))
	if err != nil {
		return 0, false
	}
	var newest time.Time
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), "_Packages") && !strings.HasSuffix(e.Name(), "_Packages.lz4") {
			continue
		}
		if fi, err := e.Info(); err == nil && fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
	}
	if newest.IsZero() {
		return 0, false
	}
	return time.Since(newest), true
}

func (a aptConfig) update(ctx context.Context) error {
	out, err := a.run(ctx, "", "apt-get", "update", "-q")
	if err != nil {
		return err
	}
	// apt-get update exits 0 when a source fails; a missing index shows up
	// as W:/E: lines.
	if _, ok := a.listAge(); !ok {
		return fmt.Errorf("apt-get update: no package index downloaded: %s", out)
	}
	return nil
}

// show returns the candidate stanza of a package ("name" or "name=ver").
func (a aptConfig) show(ctx context.Context, spec string) (stanza, error) {
	out, err := a.run(ctx, "", "apt-cache", "show", "--no-all-versions", spec)
	if err != nil {
		return stanza{}, err
	}
	st := parseStanza(out)
	s := stanza{Version: st["Version"], SHA256: st["SHA256"], Depends: st["Depends"]}
	if s.Version == "" || s.SHA256 == "" {
		return stanza{}, fmt.Errorf("apt-cache show %s: no Version/SHA256 in %q", spec, firstLine(errors.New(string(out))))
	}
	return s, nil
}

func (a aptConfig) run(ctx context.Context, dir string, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, append(a.options(), args...)...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

type stanza struct{ Version, SHA256, Depends string }

// parseStanza reads the first deb822 paragraph; continuation lines are
// appended to their field.
func parseStanza(b []byte) map[string]string {
	m := map[string]string{}
	var last string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if len(m) > 0 {
				break
			}
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if last != "" {
				m[last] += "\n" + strings.TrimSpace(line)
			}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		last = k
		m[k] = strings.TrimSpace(v)
	}
	return m
}

// firstDependency is the package name of a Depends field's first entry:
// "linux-image-6.1.0-37-arm64 (= 6.1.140-1)" → "linux-image-6.1.0-37-arm64".
func firstDependency(depends string) string {
	first, _, _ := strings.Cut(depends, ",")
	first, _, _ = strings.Cut(first, "|")
	name, _, _ := strings.Cut(strings.TrimSpace(first), " ")
	return name
}

// aptSource is one deb source from the machine's configuration.
type aptSource struct {
	URI      string
	Suites   []string
	SignedBy string
}

// readAptSources reads `deb` lines from sources.list and Types: deb
// paragraphs from sources.list.d/*.sources (and *.list).
func readAptSources(etc string) ([]aptSource, error) {
	var srcs []aptSource
	lists := []string{filepath.Join(etc, "sources.list")}
	more, _ := filepath.Glob(filepath.Join(etc, "sources.list.d", "*.list"))
	lists = append(lists, more...)
	for _, l := range lists {
		b, err := os.ReadFile(l)
		if errors.Is(err, os.ErrNotExist) {
			continue
		} else if err != nil {
			return nil, err
		}
		srcs = append(srcs, parseSourcesList(string(b))...)
	}
	d822, _ := filepath.Glob(filepath.Join(etc, "sources.list.d", "*.sources"))
	sort.Strings(d822)
	for _, l := range d822 {
		b, err := os.ReadFile(l)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, parseDeb822Sources(string(b))...)
	}
	return srcs, nil
}

// parseSourcesList reads one-line-style entries:
// deb [signed-by=/usr/share/keyrings/x.gpg] URI SUITE COMPONENT...
func parseSourcesList(s string) []aptSource {
	var srcs []aptSource
	for _, line := range strings.Split(s, "\n") {
		line, _, _ = strings.Cut(line, "#")
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "deb" {
			continue
		}
		f = f[1:]
		var signed string
		if strings.HasPrefix(f[0], "[") {
			var opts []string
			for len(f) > 0 {
				opts = append(opts, f[0])
				end := strings.HasSuffix(f[0], "]")
				f = f[1:]
				if end {
					break
				}
			}
			for _, o := range strings.Fields(strings.Trim(strings.Join(opts, " "), "[]")) {
				if v, ok := strings.CutPrefix(o, "signed-by="); ok {
					signed = v
				}
			}
		}
		if len(f) < 2 {
			continue
		}
		srcs = append(srcs, aptSource{URI: f[0], Suites: []string{f[1]}, SignedBy: signed})
	}
	return srcs
}

// parseDeb822Sources reads paragraphs of Types/URIs/Suites/Signed-By.
func parseDeb822Sources(s string) []aptSource {
	var srcs []aptSource
	for _, para := range strings.Split(strings.ReplaceAll(s, "\r", ""), "\n\n") {
		fields := map[string]string{}
		for _, line := range strings.Split(para, "\n") {
			if strings.HasPrefix(line, "#") {
				continue
			}
			k, v, ok := strings.Cut(line, ":")
			if !ok || strings.HasPrefix(line, " ") {
				continue
			}
			fields[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
		}
		if !contains(strings.Fields(fields["types"]), "deb") || strings.EqualFold(fields["enabled"], "no") {
			continue
		}
		for _, uri := range strings.Fields(fields["uris"]) {
			srcs = append(srcs, aptSource{URI: uri, Suites: strings.Fields(fields["suites"]), SignedBy: fields["signed-by"]})
		}
	}
	return srcs
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// renderSourcesList writes the private list: the machine's mirrors and
// suites, arm64 only, with the component that holds raspi-firmware.
func renderSourcesList(srcs []aptSource) string {
	var b strings.Builder
	seen := map[string]bool{}
	for _, s := range srcs {
		opts := "arch=arm64"
		if s.SignedBy != "" && !strings.Contains(s.SignedBy, "\n") {
			opts += " signed-by=" + s.SignedBy
		}
		for _, suite := range s.Suites {
			line := fmt.Sprintf("deb [%s] %s %s main non-free-firmware\n", opts, s.URI, suite)
			if !seen[line] {
				seen[line] = true
				b.WriteString(line)
			}
		}
	}
	return b.String()
}

func readResolved(path string) ([2]pkg, error) {
	var r [2]pkg
	b, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	lines := strings.Fields(string(b))
	if len(lines) != 6 {
		return r, fmt.Errorf("%s: want 2 lines of name version sha256", path)
	}
	r[0] = pkg{Name: lines[0], Version: lines[1], SHA256: lines[2]}
	r[1] = pkg{Name: lines[3], Version: lines[4], SHA256: lines[5]}
	return r, nil
}

func writeResolved(path string, kernel, firmware pkg) error {
	s := fmt.Sprintf("%s %s %s\n%s %s %s\n", kernel.Name, kernel.Version, kernel.SHA256, firmware.Name, firmware.Version, firmware.SHA256)
	return os.WriteFile(path, []byte(s), 0o644)
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(strings.TrimSpace(err.Error()), "\n")
	return s
}

// lockFile takes an exclusive flock, waiting for other builds and tests.
func lockFile(path string) (func(), error) {
	fh, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(fh.Fd()), unix.LOCK_EX); err != nil {
		fh.Close()
		return nil, fmt.Errorf("flock %s: %w", path, err)
	}
	return func() { fh.Close() }, nil
}
