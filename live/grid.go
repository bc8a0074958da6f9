package live

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/camwire/camwire/mp4"
)

// cameraTile is one camera in /cameras.json: what the index grid shows.
type cameraTile struct {
	Name       string    `json:"name"`
	Connected  bool      `json:"connected"`   // the receiver has a connection from it
	Live       bool      `json:"live"`        // frames arrived in the last 5 s
	BitrateBps float64   `json:"bitrate_bps"` // receiver's figure, else the live view's
	Width      uint16    `json:"width,omitempty"`
	Height     uint16    `json:"height,omitempty"`
	FPS        float64   `json:"fps,omitempty"`
	Errors     []string  `json:"errors,omitempty"`
	LastFile   string    `json:"last_file,omitempty"` // newest recording
	LastTime   time.Time `json:"last_file_time,omitzero"`
	LastSize   int64     `json:"last_file_size,omitempty"`
	Recordings int       `json:"recordings"`
}

func (s *Server) tiles() []cameraTile {
	var out []cameraTile
	for _, name := range s.cameras() {
		t := cameraTile{Name: name}
		if s.status != nil {
			if st, ok := s.status(name); ok {
				t.Connected, t.BitrateBps, t.Errors = st.Connected, st.BitrateBps, st.Errors
			}
		}
		if c := s.lookup(name); c != nil {
			ls := c.stats()
			t.Live, t.Width, t.Height, t.FPS = ls.Live, ls.Width, ls.Height, ls.FPS
			if t.BitrateBps == 0 && ls.Live {
				t.BitrateBps = ls.BitrateBps
			}
		}
		if recs, err := s.recordings(name); err == nil && len(recs) > 0 {
			t.LastFile, t.LastTime, t.LastSize, t.Recordings = recs[0].Name, recs[0].Modified, recs[0].Size, len(recs)
		}
		out = append(out, t)
	}
	return out
}

// serveCamerasJSON answers /cameras.json: every camera's tile, polled by
// the index so one request covers the whole grid.
func (s *Server) serveCamerasJSON(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	tiles := s.tiles()
	if tiles == nil {
		tiles = []cameraTile{}
	}
	_ = json.NewEncoder(w).Encode(tiles)
}

// serveStill answers /cam/NAME/still.mp4: the camera's latest keyframe as
// a one-frame MP4 — the grid's thumbnail. The browser decodes it (no image
// codec runs here), and it costs one keyframe per refresh instead of a
// stream per tile.
func (s *Server) serveStill(w http.ResponseWriter, r *http.Request) {
	name := cameraName(w, r)
	if name == "" {
		return
	}
	c := s.lookup(name)
	if c == nil {
		http.Error(w, fmt.Sprintf("camera %s is not live", name), http.StatusNotFound)
		return
	}
	c.mu.Lock()
	init := c.init
	var key *item
	if len(c.gop) > 0 && c.gop[0].s.Key {
		k := c.gop[0]
		key = &k
	}
	c.mu.Unlock()
	if init == nil || key == nil {
		http.Error(w, fmt.Sprintf("camera %s has sent no keyframe yet", name), http.StatusNotFound)
		return
	}
	ts := key.s
	ts.DTS, ts.PTSOffset = 0, 0
	frag, err := mp4.Fragment(1, 0, []mp4.TimedSample{ts})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "video/mp4")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(append(append([]byte(nil), init...), frag...))
}

// maxLiveTiles is how many grid tiles play live; the others show a still
// refreshed every few seconds. A browser opens at most six HTTP/1.1
// connections to one host, and each live tile holds one for good, so
// more live tiles would starve the page's own requests.
const maxLiveTiles = 4

var indexHTML = fmt.Sprintf(`<!doctype html>
<html><head><meta charset="utf-8"><title>camwire</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;margin:1em 2em;background:#f4f4f4;color:#222}
h1{margin:.2em 0 .6em}
#grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:14px}
.tile{background:#fff;border-radius:6px;box-shadow:0 1px 3px #0003;overflow:hidden;color:inherit;text-decoration:none;display:block}
.tile:hover{box-shadow:0 2px 8px #0005}
.media{position:relative;aspect-ratio:16/9;background:#111;display:flex;align-items:center;justify-content:center;color:#aaa}
.media video{width:100%%;height:100%%;object-fit:contain}
.badge{position:absolute;top:6px;left:6px;font-size:12px;padding:1px 6px;border-radius:3px;background:#000a;color:#fff}
.badge.live{background:#c00}
.info{padding:6px 10px 8px}
.name{font-weight:600;font-size:1.05em}
.state{font-size:.85em;margin-left:.4em}
.on{color:#080}.off{color:#888}.err{color:#b00}
.meta{font-size:.85em;color:#555;margin-top:2px;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
</style></head>
<body><h1>camwire</h1>
<div id="grid"><p id="empty" class="off">No camera has connected yet.</p></div>
<script>
"use strict";
const maxLive = %d;
const tiles = new Map();   // name → {el, video, mode}

function fmtRate(bps) { return bps ? (bps / 1e6).toFixed(2) + " Mbit/s" : "–"; }
function fmtSize(n) {
  if (n >= 1 << 30) return (n / (1 << 30)).toFixed(1) + " GiB";
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + " MiB";
  if (n >= 1 << 10) return (n / (1 << 10)).toFixed(0) + " KiB";
  return n + " B";
}
// when shows a time in the browser's zone: the time alone today, else the date too.
function when(t) {
  const d = new Date(t), p = n => String(n).padStart(2, "0");
  const hms = p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds());
  return d.toDateString() === new Date().toDateString() ? hms : d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + " " + hms.substring(0, 5);
}
function ago(t) {
  const s = (Date.now() - Date.parse(t)) / 1000;
  if (s < 90) return Math.max(0, Math.round(s)) + " s ago";
  if (s < 5400) return Math.round(s / 60) + " min ago";
  if (s < 129600) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " days ago";
}

// playLive feeds stream.mp4 into a Media Source, as the camera page does,
// keeping near the live edge; it returns a function that stops it.
function playLive(video, url) {
  let stopped = false, ctrl = null;
  async function run() {
    while (!stopped) {
      try {
        ctrl = new AbortController();
        const resp = await fetch(url, {cache: "no-store", signal: ctrl.signal});
        if (!resp.ok) throw new Error("HTTP " + resp.status);
        const type = resp.headers.get("Content-Type");
        const ms = new MediaSource();
        video.src = URL.createObjectURL(ms);
        await new Promise(r => ms.addEventListener("sourceopen", r, {once: true}));
        const sb = ms.addSourceBuffer(type);
        const q = [];
        const pump = () => {
          if (sb.updating || !q.length || ms.readyState !== "open") return;
          const b = video.buffered;
          if (b.length && video.currentTime - b.start(0) > 20) { sb.remove(b.start(0), video.currentTime - 5); return; }
          sb.appendBuffer(q.shift());
        };
        sb.addEventListener("updateend", pump);
        const rd = resp.body.getReader();
        for (;;) {
          const {value, done} = await rd.read();
          if (done || stopped) break;
          q.push(value); pump();
          const b = video.buffered;
          if (b.length && b.end(b.length - 1) - video.currentTime > 1.0) video.currentTime = b.end(b.length - 1) - 0.3;
          if (video.paused) video.play().catch(() => {});
        }
      } catch (e) {}
      if (!stopped) await new Promise(r => setTimeout(r, 1000));
    }
  }
  run();
  return () => { stopped = true; if (ctrl) ctrl.abort(); video.removeAttribute("src"); video.load(); };
}

function tile(name) {
  let t = tiles.get(name);
  if (t) return t;
  const el = document.createElement("a");
  el.className = "tile"; el.href = "/cam/" + encodeURIComponent(name) + "/"; el.dataset.camera = name;
  el.innerHTML = '<div class="media"><video muted playsinline preload="auto"></video><span class="badge"></span><span class="none"></span></div>' +
    '<div class="info"><span class="name"></span><span class="state"></span><div class="meta rate"></div><div class="meta last"></div></div>';
  el.querySelector(".name").textContent = name;
  document.getElementById("grid").append(el);
  t = {el, video: el.querySelector("video"), mode: "", stop: null, stillAt: 0};
  tiles.set(name, t);
  return t;
}

function setMode(t, name, mode) {
  if (t.mode === mode) return;
  if (t.stop) { t.stop(); t.stop = null; }
  t.mode = mode;
  const badge = t.el.querySelector(".badge"), none = t.el.querySelector(".none");
  t.video.style.display = mode === "off" ? "none" : "";
  none.textContent = mode === "off" ? "no picture — camera offline" : "";
  badge.textContent = mode === "live" ? "LIVE" : mode === "still" ? "still" : "offline";
  badge.className = "badge " + (mode === "live" ? "live" : "");
  if (mode === "live") t.stop = playLive(t.video, "/cam/" + encodeURIComponent(name) + "/stream.mp4");
}

async function refresh() {
  let cams;
  try { cams = await (await fetch("/cameras.json", {cache: "no-store"})).json(); } catch (e) { return; }
  document.getElementById("empty").style.display = cams.length ? "none" : "";
  let live = 0;
  for (const c of cams) {
    const t = tile(c.name);
    const mode = c.live ? (live++ < maxLive ? "live" : "still") : "off";
    setMode(t, c.name, mode);
    if (mode === "still" && Date.now() - t.stillAt > 5000) {
      t.stillAt = Date.now();
      t.video.src = "/cam/" + encodeURIComponent(c.name) + "/still.mp4?t=" + t.stillAt;
    }
    const st = t.el.querySelector(".state");
    st.textContent = c.errors && c.errors.length ? "● " + c.errors[0] : c.connected ? (c.recordings ? "● recording" : "● connected") : c.live ? "● live" : "○ offline";
    st.className = "state " + (c.errors && c.errors.length ? "err" : c.connected || c.live ? "on" : "off");
    t.el.querySelector(".rate").textContent = (c.live ? fmtRate(c.bitrate_bps) + (c.width ? " · " + c.width + "×" + c.height : "") + (c.fps ? " @ " + c.fps.toFixed(0) + " fps" : "") : "no stream") ;
    t.el.querySelector(".last").textContent = c.last_file ? "last file " + when(c.last_file_time) + " (" + ago(c.last_file_time) + ") · " + fmtSize(c.last_file_size) + " · " + c.recordings + (c.recordings === 1 ? " file" : " files") : "no recordings yet";
    t.el.querySelector(".last").title = c.last_file || "";
  }
}
refresh();
setInterval(refresh, 2000);
</script>
</body></html>
`, maxLiveTiles)
