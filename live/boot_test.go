package live

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPageShowsLatestBootReport: the page shows the newest report's
// summary (escaped) and its text, boot.txt serves it, and a camera with
// none says so.
func TestPageShowsLatestBootReport(t *testing.T) {
	dir := t.TempDir()
	boot := filepath.Join(dir, "cam1", ".camwire", "boot")
	must(t, os.MkdirAll(boot, 0o755))
	must(t, os.MkdirAll(filepath.Join(dir, "cam2"), 0o755))
	for name, text := range map[string]string{
		"20261201T230000Z.txt":   "camwire boot report: old\n",
		"20261202T010203Z.txt":   "camwire boot report: older in the same second\n",
		"20261202T010203Z-2.txt": "camwire boot report: cam1 on <Raspberry Pi 3>: no /dev/video0\nvchiq: failed\n",
	} {
		must(t, os.WriteFile(filepath.Join(boot, name), []byte(text), 0o644))
	}
	_, ts := newServer(t, dir, nil)
	get := func(path string) (int, string) {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, page := get("/cam/cam1/")
	for _, want := range []string{
		`<p id="bootsummary">camwire boot report: cam1 on &lt;Raspberry Pi 3&gt;: no /dev/video0</p>`,
		"20261202T010203Z-2.txt (3 kept)", "vchiq: failed", `href="boot.txt"`,
	} {
		if code != 200 || !strings.Contains(page, want) {
			t.Errorf("GET /cam/cam1/ = %d, lacks %q:\n%s", code, want, page)
		}
	}
	if code, txt := get("/cam/cam1/boot.txt"); code != 200 || !strings.HasPrefix(txt, "camwire boot report: cam1 on <Raspberry Pi 3>") {
		t.Errorf("GET boot.txt = %d %q, want the newest report", code, txt)
	}
	if _, page := get("/cam/cam2/"); !strings.Contains(page, "No boot report from this camera yet.") {
		t.Errorf("page of a camera without a report:\n%s", page)
	}
	if code, _ := get("/cam/cam2/boot.txt"); code != http.StatusNotFound {
		t.Errorf("boot.txt of a camera without a report = %d, want 404", code)
	}
}
