package bootpkg

import (
	"strings"
	"testing"
)

// The parsers read text from apt's tools and the machine's sources; none
// may panic on any input, and what they return must hold together.

func FuzzParseStanza(f *testing.F) {
	f.Add([]byte("Package: x\nVersion: 1:2.3-4\nDescription: one\n more\nSHA256: abc\n\nPackage: y\n"))
	f.Add([]byte(" continuation first\n\n\nKey:\n"))
	f.Add([]byte("no colon\nA: b\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for k := range parseStanza(b) {
			if k == "" && !strings.Contains(string(b), "\n:") && !strings.HasPrefix(string(b), ":") {
				t.Errorf("parseStanza(%q) has an empty key from no line starting with ':'", b)
			}
			if strings.ContainsAny(k, "\n") {
				t.Errorf("parseStanza(%q): key %q spans lines", b, k)
			}
		}
	})
}

func FuzzFirstDependency(f *testing.F) {
	f.Add("linux-image-6.1.0-37-arm64 (= 6.1.140-1), foo")
	f.Add("a | b, c")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		got := firstDependency(s)
		if strings.ContainsAny(got, " ,|") {
			t.Errorf("firstDependency(%q) = %q, holds a separator", s, got)
		}
		if !strings.Contains(s, got) {
			t.Errorf("firstDependency(%q) = %q, not in the input", s, got)
		}
	})
}

func FuzzParseSourcesList(f *testing.F) {
	f.Add("# comment\ndeb http://m/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://m/s bookworm-security main\n")
	f.Add("deb [ signed-by=/k.gpg\ndeb [x] \n")
	f.Fuzz(func(t *testing.T, s string) {
		for _, src := range parseSourcesList(s) {
			if src.URI == "" || len(src.Suites) != 1 || src.Suites[0] == "" {
				t.Errorf("parseSourcesList(%q) gave %+v, want a URI and one suite", s, src)
			}
			// The list is rendered back one entry per line.
			if strings.ContainsAny(src.URI+src.Suites[0]+src.SignedBy, " \t\n") {
				t.Errorf("parseSourcesList(%q) gave %+v with white space in a field", s, src)
			}
		}
	})
}

func FuzzParseDeb822Sources(f *testing.F) {
	f.Add("Types: deb\nURIs: http://m/debian\nSuites: bookworm bookworm-updates\nSigned-By: /k.gpg\n\nTypes: deb-src\nURIs: http://m/debian\n")
	f.Add("Types: deb\nURIs: a b\nEnabled: no\n")
	f.Add("Types: deb\r\nURIs: u\r\nSuites:\r\n")
	f.Fuzz(func(t *testing.T, s string) {
		for _, src := range parseDeb822Sources(s) {
			if src.URI == "" || strings.ContainsAny(src.URI, " \t\n") {
				t.Errorf("parseDeb822Sources(%q) gave URI %q", s, src.URI)
			}
		}
		// Whatever was parsed renders into lines apt can read: one
		// "deb [...] URI SUITE main non-free-firmware" per line.
		for _, l := range strings.Split(strings.TrimSuffix(renderSourcesList(parseDeb822Sources(s)), "\n"), "\n") {
			if l != "" && !strings.HasPrefix(l, "deb [arch=arm64") {
				t.Errorf("renderSourcesList(parseDeb822Sources(%q)) has line %q", s, l)
			}
		}
	})
}
