package live

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/camwire/camwire/mp4"
	"github.com/camwire/camwire/mp4/mp4test"
	"github.com/camwire/camwire/sink"
	"github.com/camwire/camwire/wire"
)

// recordSpan writes files recordings of secs seconds each, back to back
// from start, into dir/camera as the receiver names them, looping a
// libx264 clip without B-frames (each loop starts at its IDR).
func recordSpan(t *testing.T, dir, camera string, start time.Time, files, secs int) {
	t.Helper()
	aus := mp4test.SplitAUs(t, mp4test.EncodeClip(t, "320x240", 2, "-bf", "0", "-g", "30"))
	must(t, os.MkdirAll(filepath.Join(dir, camera), 0o755))
	h := wire.Hello{Name: camera, Codec: "h264", Width: 320, Height: 240, FPSNum: 30, FPSDen: 1}
	for f := range files {
		first := start.Add(time.Duration(f*secs) * time.Second)
		name := fmt.Sprintf("%s-0190a0b0-0000-7000-8000-%012d.mp4", first.UTC().Format("20060102T150405Z"), f)
		w, err := (&mp4.Sink{}).Create(filepath.Join(dir, camera, name), sink.SegmentInfo{Hello: h, Segment: 1, Start: first})
		must(t, err)
		for i := range secs * 30 {
			au := aus[i%len(aus)]
			must(t, w.WriteFrame(wire.Frame{Seq: uint64(i + 1), Segment: 1, TimeUS: int64(i) * 1e6 / 30, Key: isKey(au), Payload: au}))
		}
		must(t, w.Finish())
		must(t, os.Chtimes(filepath.Join(dir, camera, name), first, first.Add(time.Duration(secs)*time.Second)))
	}
}

// waitJS polls the page until js returns true: the browser has no event
// to wait on from here.
func waitJS(t *testing.T, d *browser, what, js string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var ok bool
		d.script(js, &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			var page string
			d.script(`return document.body.innerText;`, &page)
			t.Fatalf("%s: not within %v; page says:\n%s", what, within, page)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestBrowserGridAndTimeline opens the index with six cameras (five live,
// one offline) and a camera page with two recorded spans, in headless
// Chromium: live tiles play, the fifth live camera shows a still, the
// offline one says so; the timeline draws the two spans with the gap
// between, a click plays from that moment through /get, and the download
// link is a range ffprobe agrees with. Screenshots: grid.png and
// timeline.png in the artifact folder.
func TestBrowserGridAndTimeline(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser; skipped with -short")
	}
	d := startChromium(t)
	dir := t.TempDir()
	now := time.Now().Truncate(time.Second)
	// door: 3 min recorded from 9 min ago, nothing for 2 min, then 2 min
	// until 2 min ago. attic: offline, one old file.
	recordSpan(t, dir, "door", now.Add(-9*time.Minute), 3, 60)
	recordSpan(t, dir, "door", now.Add(-4*time.Minute), 2, 60)
	recordSpan(t, dir, "attic", now.Add(-26*time.Hour), 1, 4)
	live := []string{"door", "garage", "garden", "porch", "yard"}
	status := func(name string) (CameraStatus, bool) {
		for i, n := range live {
			if n == name {
				return CameraStatus{Connected: true, BitrateBps: float64(i+1) * 1.1e6}, true
			}
		}
		return CameraStatus{}, false
	}
	s, ts := newServer(t, dir, status)
	for _, n := range live {
		p := newPublisher(t, s, n)
		p.publish(1)
		p.run(t)
	}

	d.open(ts.URL + "/")
	waitJS(t, d, "four live tiles playing, a still, an offline tile", `
		const tiles = [...document.querySelectorAll(".tile")];
		if (tiles.length !== 6) return false;
		const by = n => tiles.find(t => t.dataset.camera === n);
		const playing = ["attic", "door", "garage", "garden", "porch"].slice(1).every(n => by(n).querySelector("video").currentTime > 1);
		const still = by("yard").querySelector(".badge").textContent === "still" && by("yard").querySelector("video").readyState >= 2;
		const off = by("attic").querySelector(".badge").textContent === "offline" && by("attic").textContent.includes("no stream");
		return playing && still && off && by("door").textContent.includes("last file");`, 60*time.Second)
	d.screenshot("grid.png")

	d.open(ts.URL + "/cam/door/")
	waitJS(t, d, "two spans on the timeline", `return document.querySelectorAll("#tltrack .span").length === 2;`, 30*time.Second)
	// The gap between the spans is on the bar as a gap: the first ends
	// where the gap begins (6 min ago), the second starts 2 min later.
	var geo struct {
		A, B     [2]float64 // left and right of each span, px
		Bar      float64
		WinSpan  float64 `json:"win"`
		ClickX   float64 `json:"x"`
		ClickY   float64 `json:"y"`
		BarLeft  float64 `json:"left"`
		WinEndMs float64 `json:"end"`
	}
	d.script(`const r = document.getElementById("timeline").getBoundingClientRect();
		const s = [...document.querySelectorAll("#tltrack .span")].map(e => e.getBoundingClientRect());
		const w = window.camwireTimeline.window();
		return {a: [s[0].left - r.left, s[0].right - r.left], b: [s[1].left - r.left, s[1].right - r.left], bar: r.width,
			win: w.span, end: w.end, x: s[0].left + s[0].width / 2, y: r.top + r.height / 2, left: r.left};`, &geo)
	if geo.WinSpan != 600 {
		t.Errorf("timeline opened at %v s wide, want 600 (the smallest that shows the newest span)", geo.WinSpan)
	}
	pxPerSec := geo.Bar / geo.WinSpan
	if gap := (geo.B[0] - geo.A[1]) / pxPerSec; math.Abs(gap-120) > 2 {
		t.Errorf("gap on the bar = %.1f s, want 120 s", gap)
	}
	if l := (geo.A[1] - geo.A[0]) / pxPerSec; math.Abs(l-180) > 2 {
		t.Errorf("first span on the bar = %.1f s, want 180 s", l)
	}
	// Click the first span's middle: playback starts there (7.5 min ago).
	d.script(fmt.Sprintf(`document.getElementById("timeline").dispatchEvent(new MouseEvent("click", {clientX: %f, clientY: %f, bubbles: true})); return true;`, geo.ClickX, geo.ClickY), new(bool))
	waitJS(t, d, "playback from the click", `const v = document.getElementById("pb"); return v.currentTime > 1.5 && !v.error;`, 30*time.Second)
	var src string
	d.script(`return document.getElementById("pb").currentSrc;`, &src)
	u, err := url.Parse(src)
	must(t, err)
	at, err := time.Parse(time.RFC3339, u.Query().Get("start"))
	must(t, err)
	if want := now.Add(-9*time.Minute + 90*time.Second); at.Sub(want).Abs() > 2*time.Second {
		t.Errorf("playing from %v, want about %v (the click)", at, want)
	}
	if u.Path != "/get" || u.Query().Get("path") != "door" {
		t.Errorf("player source %s is not /get for door", src)
	}
	d.script(`document.getElementById("tlhover").style.display = "none"; window.scrollTo(0, 0); return true;`, new(bool))
	d.screenshot("timeline.png")

	// The download link: a minute from the click, as a seekable mp4.
	var href string
	d.script(`return document.getElementById("dllink").href;`, &href)
	res, err := http.Get(href)
	must(t, err)
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	must(t, err)
	if res.StatusCode != 200 {
		t.Fatalf("download %s: %d %s", href, res.StatusCode, body)
	}
	path := filepath.Join(t.TempDir(), "dl.mp4")
	must(t, os.WriteFile(path, body, 0o644))
	p := mp4test.Probe(t, path)
	// From the keyframe at or before the start (GOP 1 s) to the end.
	if p.Duration < 60 || p.Duration > 61.05 || p.Frames != int(math.Round(p.Duration*30)) || p.Stderr != "" {
		t.Errorf("download: %d frames, %.3f s (want 60–61 s at 30 fps): %s", p.Frames, p.Duration, p.Stderr)
	}
}
