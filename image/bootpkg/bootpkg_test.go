package bootpkg

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseDeb822Sources(t *testing.T) {
	in := `Types: deb
# a comment
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://mirror.example/debian
Suites: bookworm

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
Enabled: no
`
	got := parseDeb822Sources(in)
	want := []aptSource{{URI: "http://mirror.example/debian", Suites: []string{"bookworm", "bookworm-updates"}, SignedBy: "/usr/share/keyrings/debian-archive-keyring.gpg"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseDeb822Sources (-want +got):\n%s", diff)
	}
}

func TestParseSourcesList(t *testing.T) {
	in := `# comment
deb http://mirror.example/debian bookworm main contrib
deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian-security bookworm-security main
deb-src http://mirror.example/debian bookworm main
`
	got := parseSourcesList(in)
	want := []aptSource{
		{URI: "http://mirror.example/debian", Suites: []string{"bookworm"}},
		{URI: "http://mirror.example/debian-security", Suites: []string{"bookworm-security"}, SignedBy: "/k.gpg"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseSourcesList (-want +got):\n%s", diff)
	}
}

func TestRenderSourcesList(t *testing.T) {
	got := renderSourcesList([]aptSource{
		{URI: "http://mirror.example/debian", Suites: []string{"bookworm", "bookworm-updates"}, SignedBy: "/k.gpg"},
		{URI: "http://mirror.example/debian", Suites: []string{"bookworm"}, SignedBy: "/k.gpg"}, // duplicate
	})
	want := "deb [arch=arm64 signed-by=/k.gpg] http://mirror.example/debian bookworm main non-free-firmware\n" +
		"deb [arch=arm64 signed-by=/k.gpg] http://mirror.example/debian bookworm-updates main non-free-firmware\n"
	if got != want {
		t.Errorf("renderSourcesList =\n%s\nwant\n%s", got, want)
	}
}

func TestReadAptSourcesNoneIsError(t *testing.T) {
	a := aptConfig{dir: t.TempDir()}
	err := a.setup(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "no deb sources") {
		t.Errorf("setup(empty /etc/apt) = %v, want an error saying there are no deb sources", err)
	}
}

func TestFirstDependency(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"linux-image-6.1.0-37-arm64 (= 6.1.140-1)", "linux-image-6.1.0-37-arm64"},
		{"linux-image-6.1.0-37-arm64 (= 6.1.140-1), foo", "linux-image-6.1.0-37-arm64"},
		{"a | b, c", "a"},
		{"", ""},
	} {
		if got := firstDependency(tc.in); got != tc.want {
			t.Errorf("firstDependency(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseStanza(t *testing.T) {
	got := parseStanza([]byte("Package: x\nVersion: 1:2.3-4\nDescription: one\n more\nSHA256: abc\n\nPackage: y\nVersion: 9\n"))
	want := map[string]string{"Package": "x", "Version": "1:2.3-4", "SHA256": "abc", "Description": "one\nmore"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseStanza (-want +got):\n%s", diff)
	}
}

func TestVerifySHA256(t *testing.T) {
	f := filepath.Join(t.TempDir(), "x.deb")
	os.WriteFile(f, []byte("abc"), 0o644)
	if err := verifySHA256(f, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"); err != nil {
		t.Errorf("verifySHA256(right sum) = %v", err)
	}
	if err := verifySHA256(f, strings.Repeat("0", 64)); err == nil || !strings.Contains(err.Error(), "package index says") {
		t.Errorf("verifySHA256(wrong sum) = %v, want a mismatch error", err)
	}
}

func TestFindDebs(t *testing.T) {
	dir := t.TempDir()
	touch := func(n string) { os.WriteFile(filepath.Join(dir, n), nil, 0o644) }
	if _, _, err := findDebs(dir); err == nil {
		t.Error("findDebs(empty dir) succeeded")
	}
	touch("linux-image-arm64_6.1.140-1_arm64.deb")              // metapackage: ignored
	touch("linux-image-6.1.0-37-arm64-dbg_6.1.140-1_arm64.deb") // debug symbols: ignored
	touch("linux-image-6.1.0-37-arm64_6.1.140-1_arm64.deb")
	touch("raspi-firmware_1.20220830+ds-1_arm64.deb")
	k, fw, err := findDebs(dir)
	if err != nil || filepath.Base(k) != "linux-image-6.1.0-37-arm64_6.1.140-1_arm64.deb" || filepath.Base(fw) != "raspi-firmware_1.20220830+ds-1_arm64.deb" {
		t.Errorf("findDebs = %s, %s, %v", k, fw, err)
	}
	touch("linux-image-6.1.0-38-arm64_6.1.141-1_arm64.deb")
	if _, _, err := findDebs(dir); err == nil || !strings.Contains(err.Error(), "exactly one linux-image") {
		t.Errorf("findDebs(two kernels) = %v, want an error naming the ambiguity", err)
	}
}
