package live

// timelineHTML is the camera page's timeline: the spans /list returns
// drawn on a bar of 10 min to 7 days, gaps left empty. A click plays from
// that moment through /get (a seekable mp4 with its moov first, in
// chunks, the next one loaded when one ends); the download form cuts any
// range through /get too.
const timelineHTML = `{{define "playback"}}<div id="playback">
<div id="pbnone">Click the timeline to play a recording</div>
<video id="pb" controls playsinline style="display:none"></video>
<p><b>Recording</b>: <span id="pbfrom" class="dim">none chosen</span> <span id="pbstate" class="dim"></span></p>
</div>{{end}}
{{define "timeline"}}
<h2>Timeline</h2>
<div id="tlbar">
<span class="zoom">{{range $i, $z := zooms}}<button data-span="{{$z.Secs}}">{{$z.Label}}</button>{{end}}</span>
<button id="tlprev" title="earlier">◀</button><button id="tlnow">now</button><button id="tlnext" title="later">▶</button>
<span id="tlrange" class="dim"></span>
</div>
<div id="timeline" title="click to play from there"><div id="tltrack"></div><div id="tlcursor"></div><div id="tlhead"></div><div id="tlhover"></div></div>
<div id="tlticks"></div>
<p id="tlsummary" class="dim">loading recordings…</p>
<form id="dl" onsubmit="return false">
Download from <input type="datetime-local" id="dlfrom" step="1"> to <input type="datetime-local" id="dlto" step="1">
<a id="dllink" href="#" download>download MP4</a> <span id="dlsize" class="dim"></span>
</form>
<style>
#tlbar{margin:.4em 0}#tlbar button{margin-right:2px}#tlbar .zoom{margin-right:1em}
#tlbar button.on{background:#246;color:#fff}
#timeline{position:relative;height:44px;background:#e4e4e4;border:1px solid #bbb;border-radius:3px;cursor:pointer;user-select:none;max-width:1100px}
#tltrack .span{position:absolute;top:4px;bottom:4px;background:#2a7;border-radius:2px;min-width:2px}
#tlhead{position:absolute;top:0;bottom:0;width:2px;background:#d22;display:none}
#tlcursor{position:absolute;top:0;bottom:0;width:1px;background:#0008;display:none;pointer-events:none}
#tlhover{position:absolute;top:-22px;font-size:12px;background:#333;color:#fff;padding:1px 5px;border-radius:3px;display:none;pointer-events:none;white-space:nowrap}
#tlticks{position:relative;height:18px;font-size:12px;color:#555;max-width:1100px}
#tlticks span{position:absolute;transform:translateX(-50%);white-space:nowrap}
#tlticks span.day{font-weight:600;color:#222}
#pb,#pbnone{width:100%;aspect-ratio:4/3;max-height:52vh;background:#000}
#pbnone{background:#333;color:#ccc;display:flex;align-items:center;justify-content:center}
</style>
<script>
"use strict";
(() => {
const camera = {{.Name}};
const chunk = 120;              // seconds of recording per /get while playing
let spans = [];                 // [{start: ms, end: ms}]
let winSpan = 3600, winEnd = Date.now();
const bar = document.getElementById("timeline"), track = document.getElementById("tltrack");
const head = document.getElementById("tlhead"), hover = document.getElementById("tlhover"), cursor = document.getElementById("tlcursor");
const video = document.getElementById("pb");
let playFrom = 0;               // wall-clock ms where the loaded chunk starts

const pad = n => String(n).padStart(2, "0");
const hm = d => pad(d.getHours()) + ":" + pad(d.getMinutes());
const hms = d => hm(d) + ":" + pad(d.getSeconds());
const day = d => d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate());
const local = ms => { const d = new Date(ms); return day(d) + "T" + hms(d); };
function dur(s) {
  if (s < 60) return s.toFixed(1) + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " min";
}
function getURL(startMs, secs, format, download) {
  const q = new URLSearchParams({path: camera, start: new Date(startMs).toISOString(), duration: String(secs), format});
  if (download) q.set("download", "");
  return "/get?" + q.toString();
}

function draw() {
  const w0 = winEnd - winSpan * 1000;
  const frac = t => (t - w0) / (winSpan * 1000) * 100;
  const els = [];
  let shown = 0, secs = 0;
  for (const s of spans) {
    if (s.end <= w0 || s.start >= winEnd) continue;
    const a = Math.max(frac(s.start), 0), b = Math.min(frac(s.end), 100);
    const el = document.createElement("div");
    el.className = "span";
    el.style.left = a + "%"; el.style.width = (b - a) + "%";
    el.title = hms(new Date(s.start)) + " – " + hms(new Date(s.end)) + " (" + dur((s.end - s.start) / 1000) + ")";
    els.push(el); shown++; secs += (Math.min(s.end, winEnd) - Math.max(s.start, w0)) / 1000;
  }
  track.replaceChildren(...els);
  document.getElementById("tlrange").textContent = day(new Date(w0)) + " " + hms(new Date(w0)) + " – " + (day(new Date(w0)) === day(new Date(winEnd)) ? "" : day(new Date(winEnd)) + " ") + hms(new Date(winEnd));
  for (const b of document.querySelectorAll("#tlbar .zoom button")) b.classList.toggle("on", Number(b.dataset.span) === winSpan);
  // Ticks: up to twelve per bar, on round local times; a day's first tick names the date.
  const steps = [60, 120, 300, 600, 1800, 3600, 7200, 14400, 21600, 43200, 86400];
  const step = (steps.find(s => winSpan / s <= 12) || 86400) * 1000;
  const ticks = [];
  const tz = new Date().getTimezoneOffset() * 60000;
  for (let t = Math.ceil((w0 - tz) / step) * step + tz; t <= winEnd; t += step) {
    const d = new Date(t), el = document.createElement("span");
    const midnight = d.getHours() === 0 && d.getMinutes() === 0;
    el.textContent = midnight || step >= 86400000 ? day(d) : hm(d);
    if (midnight) el.className = "day";
    el.style.left = frac(t) + "%";
    ticks.push(el);
  }
  document.getElementById("tlticks").replaceChildren(...ticks);
  const total = spans.reduce((a, s) => a + (s.end - s.start) / 1000, 0);
  document.getElementById("tlsummary").textContent = spans.length === 0 ? "No recordings yet." :
    shown + " of " + spans.length + " recorded spans in view (" + dur(secs) + " of " + dur(total) + " recorded); gaps are times nothing was recorded.";
  drawHead();
}

function drawHead() {
  const w0 = winEnd - winSpan * 1000;
  if (!playFrom) { head.style.display = "none"; return; }
  const t = playFrom + video.currentTime * 1000;
  head.style.display = t >= w0 && t <= winEnd ? "block" : "none";
  head.style.left = ((t - w0) / (winSpan * 1000) * 100) + "%";
}

async function load() {
  try {
    const resp = await fetch("/list?path=" + encodeURIComponent(camera), {cache: "no-store"});
    const list = resp.ok ? await resp.json() : [];
    spans = list.map(e => ({start: Date.parse(e.start), end: Date.parse(e.start) + e.duration * 1000}));
  } catch (e) {
    document.getElementById("tlsummary").textContent = "cannot list recordings: " + e.message;
    return;
  }
  draw();
}

// at: the time under the mouse, snapped into the next span if it is in a gap.
function timeAt(ev) {
  const r = bar.getBoundingClientRect();
  return winEnd - winSpan * 1000 + (ev.clientX - r.left) / r.width * winSpan * 1000;
}
function snap(t) {
  for (const s of spans) {
    if (t < s.start) return s.start;
    if (t < s.end) return t;
  }
  return null;
}

function play(t) {
  playFrom = t;
  document.getElementById("pbnone").style.display = "none";
  video.style.display = "";
  const from = document.getElementById("pbfrom");
  from.textContent = "from " + day(new Date(t)) + " " + hms(new Date(t));
  from.className = "";
  document.getElementById("pbstate").textContent = "loading…";
  video.src = getURL(t, chunk, "mp4");
  video.play().catch(() => {});
  // The download form follows the click: one minute from there.
  document.getElementById("dlfrom").value = local(t);
  document.getElementById("dlto").value = local(t + 60000);
  updateDownload();
}
video.addEventListener("playing", () => document.getElementById("pbstate").textContent = "");
video.addEventListener("error", () => document.getElementById("pbstate").textContent = "cannot play: " + (video.error ? video.error.message || video.error.code : ""));
video.addEventListener("ended", () => {
  const next = snap(playFrom + video.duration * 1000 + 1);
  if (next !== null) play(next);
});
video.addEventListener("timeupdate", () => {
  drawHead();
  const at = new Date(playFrom + video.currentTime * 1000);
  document.getElementById("pbfrom").textContent = day(at) + " " + hms(at);
});

bar.addEventListener("click", ev => {
  const t = snap(timeAt(ev));
  if (t !== null) play(t);
});
bar.addEventListener("mousemove", ev => {
  const t = timeAt(ev), r = bar.getBoundingClientRect();
  hover.style.display = cursor.style.display = "block";
  const x = ev.clientX - r.left;
  cursor.style.left = x + "px";
  hover.style.left = Math.min(x, r.width - 70) + "px";
  hover.textContent = hms(new Date(t)) + (snap(t) === t ? "" : " (no recording)");
});
bar.addEventListener("mouseleave", () => hover.style.display = cursor.style.display = "none");

for (const b of document.querySelectorAll("#tlbar .zoom button")) {
  b.addEventListener("click", () => { winSpan = Number(b.dataset.span); draw(); });
}
document.getElementById("tlprev").addEventListener("click", () => { winEnd -= winSpan * 500; draw(); });
document.getElementById("tlnext").addEventListener("click", () => { winEnd = Math.min(winEnd + winSpan * 500, Date.now()); draw(); });
document.getElementById("tlnow").addEventListener("click", () => { winEnd = Date.now(); draw(); });

function updateDownload() {
  const a = Date.parse(document.getElementById("dlfrom").value), b = Date.parse(document.getElementById("dlto").value);
  const link = document.getElementById("dllink");
  if (!(b > a)) { link.removeAttribute("href"); document.getElementById("dlsize").textContent = "pick a range"; return; }
  link.href = getURL(a, (b - a) / 1000, "mp4", true);
  document.getElementById("dlsize").textContent = dur((b - a) / 1000);
}
document.getElementById("dlfrom").addEventListener("change", updateDownload);
document.getElementById("dlto").addEventListener("change", updateDownload);

// First view: the smallest zoom that shows the newest span whole, ending now.
load().then(() => {
  if (spans.length) {
    const s = spans[spans.length - 1];
    const zs = [...document.querySelectorAll("#tlbar .zoom button")].map(b => Number(b.dataset.span));
    winSpan = zs.find(z => (Date.now() - s.start) / 1000 <= z * 0.9) || zs[zs.length - 1];
    winEnd = Date.now();
    document.getElementById("dlfrom").value = local(s.start);
    document.getElementById("dlto").value = local(Math.min(s.end, s.start + 60000));
    updateDownload();
    draw();
  }
});
setInterval(() => { if (winEnd >= Date.now() - winSpan * 50) winEnd = Date.now(); load(); }, 10000);
window.camwireTimeline = {spans: () => spans, play, window: () => ({span: winSpan, end: winEnd})};
})();
</script>
{{end}}`

// zoom is one of the timeline's widths.
type zoom struct {
	Label string
	Secs  int
}

var zooms = []zoom{{"10 min", 600}, {"1 h", 3600}, {"6 h", 6 * 3600}, {"24 h", 86400}, {"7 days", 7 * 86400}}
