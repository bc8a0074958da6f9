package live

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/camwire/camwire/mp4"
	"github.com/camwire/camwire/mp4/mp4test"
	"github.com/camwire/camwire/sink"
	"github.com/camwire/camwire/wire"
)

// webDriver is the few W3C WebDriver calls the browser test needs,
// spoken over HTTP to chromedriver: no client library.
type webDriver struct {
	t       *testing.T
	base    string // http://127.0.0.1:PORT
	session string
}

// call sends one WebDriver command and returns its "value".
func (d *webDriver) call(method, path string, body any) json.RawMessage {
	d.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			d.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, d.base+path, rd)
	if err != nil {
		d.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatalf("webdriver %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out struct {
		Value json.RawMessage `json:"value"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil || resp.StatusCode != 200 {
		d.t.Fatalf("webdriver %s %s = %d %s (%v)", method, path, resp.StatusCode, raw, err)
	}
	return out.Value
}

// script runs JavaScript in the page and decodes its return value.
func (d *webDriver) script(js string, v any) {
	d.t.Helper()
	raw := d.call("POST", "/session/"+d.session+"/execute/sync", map[string]any{"script": js, "args": []any{}})
	if err := json.Unmarshal(raw, v); err != nil {
		d.t.Fatalf("script result %s: %v", raw, err)
	}
}

// startChromium starts chromedriver and a headless Chromium session with
// a fresh profile, both ended when the test ends.
func startChromium(t *testing.T) *webDriver {
	t.Helper()
	chromium, err1 := exec.LookPath("chromium")
	driver, err2 := exec.LookPath("chromedriver")
	if err1 != nil || err2 != nil {
		t.Skip("chromium and chromedriver are not installed (make test installs them: scripts/deps.sh chromium chromium-driver)")
	}
	tmp := t.TempDir()
	// --port=0: chromedriver picks a free port and names it when ready,
	// so no port is chosen in advance for another test to take.
	cmd := exec.Command(driver, "--port=0", "--log-path="+filepath.Join(tmp, "chromedriver.log"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start chromedriver: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		// The log is the only witness of what the browser did: keep it
		// when the test failed (tmp goes with the test).
		if t.Failed() {
			log := filepath.Join(tmp, "chromedriver.log")
			if b, err := os.ReadFile(log); err == nil {
				keep := filepath.Join(artifactDir(t), t.Name()+"-chromedriver.log")
				if err := os.WriteFile(keep, b, 0o644); err == nil {
					t.Logf("chromedriver log kept: %s", keep)
				}
			}
		}
	})
	// chromedriver says when it listens, and where:
	// "ChromeDriver was started successfully on port 41233."
	type readiness struct {
		port string
		err  error
	}
	ready := make(chan readiness, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "started successfully") {
				if m := startedRE.FindStringSubmatch(sc.Text()); m != nil {
					ready <- readiness{port: m[1]}
				} else {
					ready <- readiness{err: fmt.Errorf("chromedriver did not say its port (too old for --port=0?): %q", sc.Text())}
				}
				_, _ = io.Copy(io.Discard, stdout)
				return
			}
		}
		ready <- readiness{err: fmt.Errorf("chromedriver exited before it was ready: %v", sc.Err())}
	}()
	var port string
	select {
	case r := <-ready:
		if r.err != nil {
			t.Fatal(r.err)
		}
		port = r.port
	case <-time.After(30 * time.Second):
		t.Fatal("chromedriver not ready after 30s")
	}

	d := &webDriver{t: t, base: "http://127.0.0.1:" + port}
	raw := d.call("POST", "/session", map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		"goog:chromeOptions": map[string]any{
			"binary": chromium,
			"args": []string{
				"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
				"--disable-background-networking", "--disable-component-update", "--disable-sync",
				"--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required",
				"--window-size=1280,1000", "--user-data-dir=" + filepath.Join(tmp, "profile"),
			},
		},
	}}})
	var sess struct {
		SessionID string `json:"sessionId"`
	}
	if err := json.Unmarshal(raw, &sess); err != nil || sess.SessionID == "" {
		t.Fatalf("new session: %s (%v)", raw, err)
	}
	d.session = sess.SessionID
	t.Cleanup(func() { d.call("DELETE", "/session/"+d.session, nil) })
	return d
}

// startedRE finds the port in chromedriver's ready line.
var startedRE = regexp.MustCompile(`started successfully on port (\d+)`)

// artifactDir is $CAMWIRE_ARTIFACTS when set (CI keeps it), else out/artifacts
// at the module's root (git ignores out/): screenshots and logs outlive
// the test so a person can look at them.
func artifactDir(t *testing.T) string {
	d := os.Getenv("CAMWIRE_ARTIFACTS")
	if d == "" {
		wd, err := os.Getwd()
		must(t, err)
		for root := wd; ; root = filepath.Dir(root) {
			if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
				d = filepath.Join(root, "out", "artifacts")
				break
			}
			if filepath.Dir(root) == root {
				return t.TempDir()
			}
		}
	}
	must(t, os.MkdirAll(d, 0o755))
	return d
}

// TestBrowserPlaysLive opens a camera's page in headless Chromium while a
// test camera publishes libx264 output with B-frames in real time: the
// video element must play (currentTime advances), and the page shows the
// recordings and status. The screenshot is kept as an artifact.
func TestBrowserPlaysLive(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser; skipped with -short")
	}
	d := startChromium(t)

	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "cam1"), 0o755))
	writeRecording(t, filepath.Join(dir, "cam1", "20260101-000000.mp4"))
	status := func(string) (CameraStatus, bool) {
		return CameraStatus{Connected: true, Remote: "10.0.0.2:50000", BitrateBps: 16.5e6, LastAck: 1234,
			LastAckTime: time.Now(), TempMilliC: 48312, BufferUsed: 1 << 20, BufferSize: 64 << 20}, true
	}
	s, ts := newServer(t, dir, status)
	p := newPublisher(t, s, "cam1", "-bf", "2", "-g", "30")
	p.publish(1)
	p.run(t)

	d.call("POST", "/session/"+d.session+"/url", map[string]string{"url": ts.URL + "/cam/cam1/"})

	type playerState struct {
		Time      float64 `json:"t"`
		Ready     int     `json:"ready"`
		Paused    bool    `json:"paused"`
		State     string  `json:"state"`
		Error     string  `json:"error"`
		Buffered  float64 `json:"buffered_end"`
		CaptureUS float64 `json:"capture_us"`
		PtsUS     float64 `json:"pts_us"`
		Width     int     `json:"w"`
		Status    string  `json:"status"`
	}
	const js = `const v = document.getElementById("live");
		const b = v.buffered;
		const s = window.camwireStream || {};
		return {t: v.currentTime, ready: v.readyState, paused: v.paused,
			state: document.getElementById("state").textContent,
			error: v.error ? v.error.code + " " + v.error.message : "",
			buffered_end: b.length ? b.end(b.length - 1) : 0,
			capture_us: s.captureUS || 0, pts_us: s.ptsUS || 0, w: v.videoWidth,
			status: document.getElementById("status").textContent};`
	var st playerState
	var first float64 = -1
	deadline := time.Now().Add(45 * time.Second)
	for {
		d.script(js, &st)
		if st.Error != "" {
			t.Fatalf("video element error: %s (page says %q)", st.Error, st.State)
		}
		if first < 0 && st.Time > 0 {
			first = st.Time
		}
		if first >= 0 && st.Time > first+2 && strings.Contains(st.Status, "48.3 °C") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("video did not play for 2 s within 45 s: %+v", st)
		}
		time.Sleep(200 * time.Millisecond) // polling the browser: there is no event to wait on from here
	}
	// Frame arrival to screen: newest capture time published minus the
	// capture time of the picture on screen.
	newest := float64(p.published()-1) * 1e6 / 30
	onScreen := st.CaptureUS + (st.Time*1e6 - st.PtsUS)
	t.Logf("playing: currentTime %.2fs, %dpx wide, %.2fs buffered ahead, live delay ≈ %.2fs (goal ≤ 1.5s)",
		st.Time, st.Width, st.Buffered-st.Time, (newest-onScreen)/1e6)
	if st.Width != 320 {
		t.Errorf("videoWidth = %d, want 320", st.Width)
	}

	// A recording from the list plays in the page too.
	d.script(`document.querySelector("a.play").click(); return true;`, new(bool))
	var recTime float64
	deadline = time.Now().Add(20 * time.Second)
	for recTime < 0.5 {
		var errText string
		d.script(`const r = document.getElementById("rec"); return r.error ? "error " + r.error.code + " " + r.error.message : "";`, &errText)
		if errText != "" {
			t.Fatalf("recording player: %s", errText)
		}
		d.script(`return document.getElementById("rec").currentTime;`, &recTime)
		if time.Now().After(deadline) {
			t.Fatalf("recording did not play within 20 s (currentTime %.2f)", recTime)
		}
		time.Sleep(200 * time.Millisecond) // polling the browser
	}

	raw := d.call("GET", "/session/"+d.session+"/screenshot", nil)
	var b64 string
	must(t, json.Unmarshal(raw, &b64))
	png, err := base64.StdEncoding.DecodeString(b64)
	must(t, err)
	shot := filepath.Join(artifactDir(t), "live-page.png")
	must(t, os.WriteFile(shot, png, 0o644))
	t.Logf("screenshot: %s", shot)
}

// writeRecording stores a 2 s recording through the MP4 sink, as the
// receiver would.
func writeRecording(t *testing.T, path string) {
	t.Helper()
	aus := mp4test.SplitAUs(t, mp4test.EncodeClip(t, "320x240", 2, "-bf", "2", "-g", "30"))
	w, err := (&mp4.Sink{}).Create(path, sink.SegmentInfo{Hello: wire.Hello{Name: "cam1", Codec: "h264", FPSNum: 30, FPSDen: 1}})
	must(t, err)
	for i, au := range aus {
		must(t, w.WriteFrame(wire.Frame{Seq: uint64(i + 1), TimeUS: int64(i) * 1e6 / 30, Payload: au}))
		if i%15 == 14 {
			_, _, err := w.Sync()
			must(t, err)
		}
	}
	must(t, w.Finish())
}
