// Package bootpkg fetches the boot packages an SD image is made of —
// Debian's arm64 kernel and the Raspberry Pi firmware — with the
// machine's own apt, verifies them against the package index, and
// unpacks them into a cache shared by builds and tests. It knows
// nothing of the image: package image takes the unpacked Parts.
package bootpkg

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
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

func (f *Fetcher) maxListAge() time.Duration {
	if f.MaxListAge == 0 {
		return 24 * time.Hour
	}
	return f.MaxListAge
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
	maxAge := f.maxListAge()
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
