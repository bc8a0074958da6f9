package live

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/camwire/camwire/internal/syncbuf"
	"github.com/camwire/camwire/mp4"
	"github.com/camwire/camwire/mp4/mp4test"
	"github.com/camwire/camwire/sink"
	"github.com/camwire/camwire/wire"
)

// browser is a headless Chromium driven over the DevTools protocol by
// chromedp: no chromedriver, and the browser's own output and the page's
// console are kept as an artifact when the test fails.
type browser struct {
	t   *testing.T
	ctx context.Context
}

// open loads url and waits for the page's load event.
func (d *browser) open(url string) {
	d.t.Helper()
	if err := chromedp.Do(d.ctx, chromedp.Navigate(url)); err != nil {
		d.t.Fatalf("chromium: open %s: %v", url, err)
	}
}

// script runs the body of a JavaScript function in the page (it may
// return a value) and decodes what it returns into v.
func (d *browser) script(js string, v any) {
	d.t.Helper()
	raw, err := chromedp.Run(d.ctx, chromedp.Evaluate[json.RawMessage]("(() => {"+js+"\n})()"))
	if err != nil {
		d.t.Fatalf("chromium: script: %v\n%s", err, js)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		d.t.Fatalf("chromium: script returned %s: %v", raw, err)
	}
}

// screenshot keeps the viewport as name in the artifact folder.
func (d *browser) screenshot(name string) {
	d.t.Helper()
	png, err := chromedp.Run(d.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		d.t.Fatalf("chromium: screenshot: %v", err)
	}
	shot := filepath.Join(artifactDir(d.t), name)
	must(d.t, os.WriteFile(shot, png, 0o644))
	d.t.Logf("screenshot: %s", shot)
}

// startChromium starts headless Chromium with a fresh profile, ended when
// the test ends.
func startChromium(t *testing.T) *browser {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (make test installs it: scripts/deps.sh chromium)")
	}
	tmp := t.TempDir()
	// What Chromium prints and what the page logs: the only witnesses of
	// what the browser did.
	log := &syncbuf.Buffer{}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.WindowSize(1280, 1000), chromedp.UserDataDir(filepath.Join(tmp, "profile")),
		chromedp.CombinedOutput(log))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithErrorf(func(f string, a ...any) {
		fmt.Fprintf(log, "chromedp: "+f+"\n", a...)
	}), chromedp.WithListener(func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			fmt.Fprintf(log, "console.%s: %s\n", ev.Type, strings.Join(args, " "))
		case *runtime.EventExceptionThrown:
			fmt.Fprintf(log, "exception: %s (line %d)\n", ev.ExceptionDetails.Text, ev.ExceptionDetails.LineNumber)
		}
	}))
	// The first call starts the browser (with no timeout of its own: that
	// would end the browser with it): fail here, with its output, when it
	// cannot.
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium: %v\n%s", err, log)
	}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		if t.Failed() {
			keep := filepath.Join(artifactDir(t), strings.ReplaceAll(t.Name(), "/", "_")+"-chromium.log")
			if err := os.WriteFile(keep, []byte(log.String()), 0o644); err == nil {
				t.Logf("chromium log kept: %s", keep)
			}
		}
	})
	return &browser{t: t, ctx: ctx}
}

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

	d.open(ts.URL + "/cam/cam1/")

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

	d.screenshot("live-page.png")
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
