package live

// pageHTML is a camera's page. The live player is plain Media Source
// Extensions fed by a streaming fetch of stream.mp4: no plugin, no
// library. It keeps the picture near the live edge by seeking forward when
// more than a second is buffered ahead, and reconnects when the stream
// ends (receiver restart, new SPS/PPS).
const pageHTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>{{.Name}} — camwire</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:sans-serif;margin:1em 2em;background:#fafafa}
video{background:#000;max-width:100%}
#live{width:960px;max-height:70vh}
table{border-collapse:collapse}td,th{padding:2px 10px;text-align:left;border-bottom:1px solid #ddd}
.err{color:#b00}.dim{color:#777}
</style></head>
<body>
<p><a href="/">all cameras</a></p>
<h1>{{.Name}}</h1>
<video id="live" muted autoplay playsinline></video>
<p>Live: <span id="state">connecting…</span> · delay <span id="delay">–</span> ·
stream for ffplay/VLC: <a id="streamurl" href="stream.mp4">stream.mp4</a></p>

<h2>Status</h2>
<table id="status"><tr><td class="dim">loading…</td></tr></table>

<h2>Boot report</h2>
{{with .Report}}<p id="bootsummary">{{.Summary}}</p>
<details><summary>{{.File}} ({{.Count}} kept) · <a href="boot.txt">boot.txt</a></summary>
<pre id="bootreport">{{.Text}}</pre></details>
{{else}}<p class="dim">No boot report from this camera yet.</p>{{end}}

<h2>Recordings</h2>
{{if .ListErr}}<p class="err">cannot list recordings: {{.ListErr}}</p>{{end}}
{{if .Recordings}}
<table id="recordings"><tr><th>file</th><th>size</th><th>modified</th><th></th></tr>
{{range .Recordings}}<tr><td>{{.Name}}</td><td>{{size .Size}}</td><td>{{when .Modified}}</td>
<td>{{if .Playable}}<a href="files/{{.Name}}" class="play">play</a> · {{end}}<a href="files/{{.Name}}?download">download</a></td></tr>
{{end}}</table>
<video id="rec" controls style="display:none;width:640px;margin-top:1em"></video>
{{else}}<p class="dim">No recordings yet.</p>{{end}}

<script>
"use strict";
const video = document.getElementById("live");
const stateEl = document.getElementById("state");
let generation = 0;
let sourceBuffer = null;

document.getElementById("streamurl").textContent = new URL("stream.mp4", location.href).href;

function setState(s) { stateEl.textContent = s; }

// start opens stream.mp4 and appends every chunk to a SourceBuffer; the
// chunks need not align with MP4 boxes.
async function start() {
  const gen = ++generation;
  try {
    const resp = await fetch("stream.mp4", {cache: "no-store"});
    if (!resp.ok) throw new Error("stream: HTTP " + resp.status + " " + (await resp.text()).trim());
    const type = resp.headers.get("Content-Type");
    if (!window.MediaSource || !MediaSource.isTypeSupported(type)) {
      throw new Error("this browser cannot play " + type);
    }
    window.camwireStream = {
      captureUS: Number(resp.headers.get("X-Camwire-Capture-Us")),
      ptsUS: Number(resp.headers.get("X-Camwire-Pts-Us")),
    };
    const ms = new MediaSource();
    video.src = URL.createObjectURL(ms);
    await new Promise(res => ms.addEventListener("sourceopen", res, {once: true}));
    const sb = ms.addSourceBuffer(type);
    sourceBuffer = sb;
    const queue = [];
    const pump = () => {
      if (sb.updating || queue.length === 0 || ms.readyState !== "open") return;
      let n = 0;
      for (const c of queue) n += c.length;
      const all = new Uint8Array(n);
      let o = 0;
      for (const c of queue) { all.set(c, o); o += c.length; }
      queue.length = 0;
      sb.appendBuffer(all);
    };
    sb.addEventListener("updateend", pump);
    const reader = resp.body.getReader();
    setState("playing");
    for (;;) {
      const {value, done} = await reader.read();
      if (done || gen !== generation) break;
      queue.push(value);
      pump();
    }
    setState("stream ended, reconnecting…");
  } catch (e) {
    setState("error: " + e.message + " — retrying");
  }
  if (gen === generation) setTimeout(start, 1000);
}

// Every quarter second: stay within a second of the live edge, keep
// playing, and drop what lies far behind so memory stays flat.
setInterval(() => {
  const b = video.buffered;
  if (b.length === 0) return;
  const end = b.end(b.length - 1);
  const lag = end - video.currentTime;
  if (lag > 1.0 || video.currentTime < b.start(0)) {
    video.currentTime = Math.max(b.start(b.length - 1), end - 0.3);
  }
  if (video.paused) video.play().catch(() => {});
  document.getElementById("delay").textContent = lag.toFixed(2) + " s buffered";
  const sb = sourceBuffer;
  if (sb && !sb.updating && video.currentTime - b.start(0) > 30) {
    try { sb.remove(b.start(0), video.currentTime - 10); } catch (e) {}
  }
}, 250);

function fmtBytes(n) {
  if (n >= 1 << 30) return (n / (1 << 30)).toFixed(2) + " GiB";
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + " MiB";
  if (n >= 1 << 10) return (n / (1 << 10)).toFixed(1) + " KiB";
  return n + " B";
}

function row(k, v, cls) {
  const tr = document.createElement("tr");
  const a = document.createElement("td"); a.textContent = k;
  const b = document.createElement("td"); b.textContent = v;
  if (cls) b.className = cls;
  tr.append(a, b);
  return tr;
}

async function pollStatus() {
  const t = document.getElementById("status");
  try {
    const resp = await fetch("status.json", {cache: "no-store"});
    const s = await resp.json();
    const rows = [];
    const r = s.receiver;
    if (r) {
      const since = r.since ? " since " + new Date(r.since).toLocaleString() : "";
      rows.push(row("connected", r.connected ? "yes" + (r.remote ? " (" + r.remote + ")" : "") + since : "no", r.connected ? "" : "err"));
      const bps = r.bitrate_bps || (s.live && s.live.bitrate_bps) || 0;
      rows.push(row("bitrate", (bps / 1e6).toFixed(2) + " Mbit/s"));
      rows.push(row("camera buffer", fmtBytes(r.buffer_used) + " of " + fmtBytes(r.buffer_size)));
      const age = r.last_ack_time ? " (" + ((Date.now() - Date.parse(r.last_ack_time)) / 1000).toFixed(1) + " s ago)" : "";
      rows.push(row("last acknowledgement", "#" + r.last_ack + age));
      rows.push(row("SoC temperature", r.temp_milli_c > -2147483648 ? (r.temp_milli_c / 1000).toFixed(1) + " °C" : "unknown"));
      rows.push(row("stored", fmtBytes(r.bytes) + ", " + r.files + " files finished"));
      rows.push(row("gaps", r.gaps ? r.gaps + " (the camera dropped frames)" : "none", r.gaps ? "err" : ""));
      for (const e of r.errors || []) rows.push(row("error", e, "err"));
      if (r.extra) rows.push(row("more", JSON.stringify(r.extra)));
    } else {
      rows.push(row("receiver", "no status for this camera", "dim"));
    }
    const l = s.live;
    if (l) {
      rows.push(row("live", l.live ? l.width + "×" + l.height + " @ " + (l.fps || "?") + " fps, " + l.codec : "no frames in the last 5 s", l.live ? "" : "err"));
      rows.push(row("viewers", String(l.viewers)));
      if (!r) rows.push(row("bitrate", (l.bitrate_bps / 1e6).toFixed(2) + " Mbit/s"));
    }
    t.replaceChildren(...rows);
  } catch (e) {
    t.replaceChildren(row("status", "unavailable: " + e.message, "err"));
  }
}

for (const a of document.querySelectorAll("a.play")) {
  a.addEventListener("click", ev => {
    ev.preventDefault();
    const rec = document.getElementById("rec");
    rec.style.display = "";
    rec.src = a.getAttribute("href");
    rec.play().catch(() => {});
  });
}

start();
pollStatus();
setInterval(pollStatus, 1000);
</script>
</body></html>
`
