package live

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// secret is the content of files outside the live view's folder.
const secret = "SECRET-OUTSIDE-DIR"

// TestNoReadOutsideDir asks every endpoint for files outside -dir by
// every route there is: "..", encoded slashes and dots, absolute paths,
// backslashes, hidden state, a symlinked file and a symlinked camera
// folder. No answer may carry the secret.
func TestNoReadOutsideDir(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "recv")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(dir, "garden", ".camwire", "boot"), outside} {
		os.MkdirAll(d, 0o755)
	}
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(outside, "secret.mp4"), secret)
	write(filepath.Join(outside, "20261201T000000Z.txt"), secret) // shaped like a boot report
	write(filepath.Join(base, "secret.mp4"), secret)
	write(filepath.Join(dir, "garden", "20261201T000000Z-a.mp4"), "video")
	write(filepath.Join(dir, "garden", ".camwire", "x.journal"), secret)
	write(filepath.Join(dir, "garden", ".camwire", "boot", "20261201T000000Z.txt"), "boot ok")
	if err := os.Symlink(filepath.Join(outside, "secret.mp4"), filepath.Join(dir, "garden", "20261202T000000Z-link.mp4")); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(outside, ".camwire"), 0o755)
	if err := os.Symlink(outside, filepath.Join(outside, ".camwire", "boot")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "evil")); err != nil { // a camera folder pointing out
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(dir, noStatus))
	defer srv.Close()

	names := []string{"..", "%2e%2e", "..%2F..", "%2e%2e%2f%2e%2e", "..%5C..", "evil", "garden%2F..%2F..", "%2Ftmp", "garden%00"}
	files := []string{"..%2Fsecret.mp4", "..%2F..%2Fsecret.mp4", "%2e%2e%2fsecret.mp4", "..%5Csecret.mp4", "%2F" + strings.TrimPrefix(filepath.ToSlash(filepath.Join(outside, "secret.mp4")), "/"),
		".camwire%2Fx.journal", "20261202T000000Z-link.mp4", "secret.mp4", "C:%5Csecret.mp4"}
	var paths []string
	for _, n := range names {
		paths = append(paths, "/list?path="+n, "/get?path="+n+"&start=2026-12-01T00:00:00Z&duration=60",
			"/get?path="+n+"&start=2026-12-01T00:00:00Z&duration=60&format=mp4")
		for _, suffix := range []string{"", "/", "/stream.mp4", "/still.mp4", "/status.json", "/recordings.json", "/boot.txt"} {
			paths = append(paths, "/cam/"+n+suffix)
		}
		for _, f := range files {
			paths = append(paths, "/cam/"+n+"/files/"+f)
		}
	}
	for _, f := range files {
		paths = append(paths, "/cam/garden/files/"+f, "/cam/garden/files/"+f+"?download")
	}
	paths = append(paths, "/cameras.json", "/list?path=garden%2F..%2F..%2Foutside", "/get?path=%2Ftmp&start=x&duration=1", "/../outside/secret.mp4", "/%2e%2e/outside/secret.mp4", "/cam/garden/files/../../../outside/secret.mp4")
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range paths {
		req, err := http.NewRequest("GET", srv.URL+p, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.RawPath = "" // send the path as written, encoded bytes and all
		req.URL.Opaque = p
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", p, err)
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if strings.Contains(string(b), secret) {
			t.Errorf("GET %s = %d: the answer holds a file from outside -dir", p, resp.StatusCode)
		}
		if strings.Contains(string(b), "secret.mp4") && strings.Contains(p, "recordings.json") {
			t.Errorf("GET %s lists a file from outside -dir: %s", p, b)
		}
	}
	// The legitimate ones still work, so the test is not passing on
	// a server that refuses everything.
	for p, want := range map[string]string{"/cam/garden/files/20261201T000000Z-a.mp4": "video", "/cam/garden/boot.txt": "boot ok"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s = %d %q, want 200 with %q", p, resp.StatusCode, b, want)
		}
	}
}
