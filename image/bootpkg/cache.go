package bootpkg

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

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
