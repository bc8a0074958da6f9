package bootpkg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

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
	s := stanza{Version: st["Version"], SHA256: st["SHA256"], Depends: st["Depends"], PreDepends: st["Pre-Depends"]}
	if s.Version == "" || s.SHA256 == "" {
		return stanza{}, fmt.Errorf("apt-cache show %s: no Version/SHA256 in %q", spec, firstLine(errors.New(string(out))))
	}
	return s, nil
}

// showAll returns the candidate stanzas of several packages by name, from
// one apt-cache call; a package the index lacks is an error naming it.
func (a aptConfig) showAll(ctx context.Context, names []string) (map[string]stanza, error) {
	out, err := a.run(ctx, "", "apt-cache", append([]string{"show", "--no-all-versions"}, names...)...)
	if err != nil {
		return nil, err
	}
	got := map[string]stanza{}
	for _, para := range strings.Split(string(out), "\n\n") {
		st := parseStanza([]byte(para))
		if st["Package"] != "" {
			got[st["Package"]] = stanza{Version: st["Version"], SHA256: st["SHA256"], Depends: st["Depends"], PreDepends: st["Pre-Depends"]}
		}
	}
	for _, n := range names {
		if s, ok := got[n]; !ok || s.Version == "" || s.SHA256 == "" {
			return nil, fmt.Errorf("apt-cache show %s: no Version/SHA256 for %s in the arm64 index", strings.Join(names, " "), n)
		}
	}
	return got, nil
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
