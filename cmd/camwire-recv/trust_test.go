package main

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/camwire/camwire/recv/recvtest"
)

// TestTrustFlags: with -key, an unauthenticated nc stores 0 bytes and the
// log says why; -live with a host beyond loopback asks for the key, and
// a bare -live PORT listens on loopback only.
func TestTrustFlags(t *testing.T) {
	if _, err := exec.LookPath("nc"); err != nil {
		t.Skip("nc not installed (scripts/deps.sh installs netcat-openbsd)")
	}
	dir := t.TempDir()
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, []byte("open sesame\n"), 0o600)
	p := startRecv(t, "-dir", dir, "-key", keyFile, "-live", "0.0.0.0:0", "-keep-for", "30d")
	live := p.WaitLog(t, regexp.MustCompile(`msg="live view" url=http://(\S+)/ .*open_to="([^"]+)"`), 10*time.Second)
	if !strings.Contains(live[2], "with the key") {
		t.Errorf("live view on 0.0.0.0 is open to %q, want the network with the key", live[2])
	}
	p.WaitLog(t, regexp.MustCompile(`msg=retention policy="delete oldest recordings when older than 30d"`), 10*time.Second)

	host, port, _ := strings.Cut(p.Addr, ":")
	nc := exec.Command("nc", "-N", host, port)
	nc.Stdin = strings.NewReader("\x00\x00\x00\x01" + strings.Repeat("raw h264 ", 20000))
	nc.Run() // a refused nc may see a reset; what counts is what was stored
	p.WaitLog(t, regexp.MustCompile(`raw stream refused: this receiver has a key`), 10*time.Second)
	cam := recvtest.Script("keyed", 1, 1, 3, 100, false, false)
	cam.Key = []byte("open sesame")
	if _, err := cam.Run(dial(t, p.Addr), 10*time.Second); err != nil {
		t.Errorf("camera with the key: %v", err)
	}
	if raw, _ := filepath.Glob(filepath.Join(dir, "raw-*", "*")); len(raw) != 0 {
		t.Errorf("unauthenticated nc stored %v", raw)
	}

	url := "http://" + live[1] + "/cam/keyed/recordings.json"
	if resp, err := http.Get(url); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET %s without the key = %v %v, want 401", url, resp.Status, err)
	}
	req, _ := http.NewRequest("GET", url, nil)
	req.SetBasicAuth("me", "open sesame")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s with the key = %v %v, want 200", url, resp.Status, err)
	}

	q := startRecv(t, "-dir", t.TempDir(), "-key", keyFile, "-live", "0")
	m := q.WaitLog(t, regexp.MustCompile(`msg="live view" url=http://(\S+)/ .*open_to="([^"]+)"`), 10*time.Second)
	if !strings.HasPrefix(m[1], "127.0.0.1:") || !strings.Contains(m[2], "loopback") {
		t.Errorf("-live 0 listens on %s, open to %q; want loopback", m[1], m[2])
	}
	if resp, err := http.Get("http://" + m[1] + "/"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("loopback live view without the key = %v %v, want 200", resp.Status, err)
	}
}
