package bootpkg

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// The parsers below read three kinds of apt text: apt-cache show's one
// paragraph, sources.list lines and deb822 .sources files. They are
// written here rather than taken from pault.ag/go/debian/control, whose
// decoder imports the deprecated x/crypto/openpgp and three compression
// modules to read the few fields used here; bootpkg_fuzz_test.go fuzzes
// them instead.

type stanza struct{ Version, SHA256, Depends, PreDepends string }

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
