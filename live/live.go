// Package live is camwire-recv's live view: for every camera a web page
// that plays the stream in a browser with no plugin, lists the camera's
// recordings on a timeline and shows its status, plus a stream URL that
// ffplay and VLC open. The index is a grid of every camera. /list and /get
// are the playback API (package playback), which the timeline plays and
// downloads through.
//
// The stream is fragmented MP4 over one chunked HTTP response
// (/cam/NAME/stream.mp4): an init segment, then one moof+mdat per frame,
// so a frame reaches the browser as soon as the next one arrives. The page
// feeds that response into Media Source Extensions. Timestamps come from
// mp4.Timeline, the same as the recordings'.
//
// The receiver calls Publish for every frame it stores. Publish never
// blocks on a viewer: each viewer has a bounded queue, and one that falls
// behind loses frames until the next keyframe, so recording never waits
// for a browser.
package live

import (
	"errors"
	"fmt"
	"log"
	"net/http"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/camwire/camwire/mp4"
	"github.com/camwire/camwire/playback"
	"github.com/camwire/camwire/wire"
)

// CameraStatus is the receiver's view of one camera, shown on its page
// (recv.Status is one connection's, pid1.LEDStatus what the camera's
// LED shows). Zero fields are shown as unknown or left out.
type CameraStatus struct {
	Connected   bool      `json:"connected"`
	Remote      string    `json:"remote,omitempty"`       // sender's address
	Since       time.Time `json:"since,omitzero"`         // connected at
	BitrateBps  float64   `json:"bitrate_bps,omitempty"`  // received bit/s, recent; 0: the live view measures it
	Bytes       uint64    `json:"bytes"`                  // bytes stored by this connection
	Files       int       `json:"files"`                  // files finished by this connection
	BufferUsed  uint64    `json:"buffer_used"`            // sender's unacknowledged bytes (from Stats)
	BufferSize  uint64    `json:"buffer_size"`            // sender's buffer capacity
	LastAck     uint64    `json:"last_ack"`               // highest acknowledged Seq
	LastAckTime time.Time `json:"last_ack_time,omitzero"` // when it was sent
	TempMilliC  int32     `json:"temp_milli_c"`           // SoC temperature; wire.TempUnknown (math.MinInt32) when unknown
	Gaps        uint64    `json:"gaps"`                   // Gap records: the camera dropped frames
	Errors      []string  `json:"errors,omitempty"`       // current errors, e.g. disk full
	Extra       any       `json:"extra,omitempty"`        // anything else the receiver wants shown
}

// Server serves the live view. Create it with New; it is an http.Handler.
type Server struct {
	dir    string
	status func(camera string) (CameraStatus, bool)
	// Logf reports viewer and stream events; nil means log.Printf.
	Logf func(format string, args ...any)
	// QueueFrames is each viewer's queue length; a viewer further behind
	// skips to the next keyframe. Zero means 90 (3 s at 30 fps).
	QueueFrames int
	// MaxGOPBytes bounds the frames kept since the last keyframe so a new
	// viewer starts at once; zero means 16 MiB.
	MaxGOPBytes int

	mux *http.ServeMux
	// Playback answers /list and /get (MediaMTX's playback API) over
	// the same recordings.
	Playback *playback.Server

	mu   sync.Mutex
	cams map[string]*camera
}

// New returns a live server. dir is the receiver's output folder, whose
// subfolders DIR/<camera>/ hold the recordings (served read-only). status,
// which may be nil, returns a snapshot of a camera's state.
func New(dir string, status func(camera string) (CameraStatus, bool)) *Server {
	s := &Server{dir: dir, status: status, cams: map[string]*camera{}}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /{$}", s.serveIndex)
	s.mux.HandleFunc("GET /cam/{name}/{$}", s.servePage)
	s.mux.HandleFunc("GET /cam/{name}", func(w http.ResponseWriter, r *http.Request) {
		if cameraName(w, r) == "" {
			return
		}
		http.Redirect(w, r, r.URL.Path+"/", http.StatusMovedPermanently)
	})
	s.mux.HandleFunc("GET /cam/{name}/stream.mp4", s.serveStream)
	s.mux.HandleFunc("GET /cam/{name}/status.json", s.serveStatus)
	s.mux.HandleFunc("GET /cam/{name}/recordings.json", s.serveRecordingsJSON)
	s.mux.HandleFunc("GET /cam/{name}/files/{file}", s.serveFile)
	s.mux.HandleFunc("GET /cam/{name}/boot.txt", s.serveBootReport)
	s.mux.HandleFunc("GET /cam/{name}/still.mp4", s.serveStill)
	s.mux.HandleFunc("GET /cameras.json", s.serveCamerasJSON)
	s.Playback = playback.New(dir)
	s.Playback.Logf = s.logf
	s.mux.Handle("GET /list", s.Playback)
	s.mux.Handle("GET /get", s.Playback)
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
		return
	}
	log.Printf(format, args...)
}

// Publish hands the live view one stored frame of camera's stream. It
// copies what it keeps (f.Payload may be reused after the call) and never
// waits for a viewer. Frames before the first keyframe with SPS/PPS are
// ignored: nothing can show them.
func (s *Server) Publish(camera string, hello wire.Hello, f wire.Frame) {
	c := s.camera(camera)
	if c.publish(hello, f) {
		// A viewer's writer was woken and waits on this P's run queue
		// behind the caller, which goes on to store the frame: a sync
		// there (writev and fsync of a second's fragment) held the
		// frame for milliseconds before it went out. Let the writers
		// run first; the receiver's storage does not wait on them.
		runtime.Gosched()
	}
}

// Close disconnects every viewer; the handler keeps answering page
// requests.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.cams {
		c.mu.Lock()
		for v := range c.viewers {
			c.drop(v)
		}
		c.mu.Unlock()
	}
}

func (s *Server) camera(name string) *camera {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cams[name]
	if !ok {
		c = &camera{name: name, srv: s, viewers: map[*viewer]struct{}{}}
		s.cams[name] = c
	}
	return c
}

// lookup returns the camera if it has published anything.
func (s *Server) lookup(name string) *camera {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cams[name]
}

func (s *Server) liveNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.cams))
	for n := range s.cams {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// camera is one camera's live state: its timeline, the current init
// segment, the frames since the last keyframe, and its viewers.
type camera struct {
	name string
	srv  *Server

	mu       sync.Mutex
	hello    wire.Hello
	tl       *mp4.Timeline
	init     []byte // current init segment, nil before the first keyframe
	codec    string // MIME type with codecs= for init
	initGen  int    // bumped whenever init changes
	pending  *mp4.Sample
	pendUS   int64
	gop      []item // frames since the last keyframe, for new viewers
	gopBytes int
	viewers  map[*viewer]struct{}
	frames   uint64 // published
	lastUS   int64
	lastAt   time.Time
	skipped  uint64 // frames lost by slow viewers
	errs     int    // undecodable frames
	rate     rateMeter
}

// rateMeter measures the received bitrate over about the last two
// seconds from the frames published, so the page shows it even when the
// receiver's status has none.
type rateMeter struct {
	winStart time.Time
	winBytes int
	bps      float64
}

func (m *rateMeter) add(now time.Time, n int) {
	if m.winStart.IsZero() {
		m.winStart = now
	}
	m.winBytes += n
	if d := now.Sub(m.winStart); d >= 2*time.Second {
		m.bps = float64(m.winBytes) * 8 / d.Seconds()
		m.winStart, m.winBytes = now, 0
	}
}

// item is one frame for a viewer: the sample with its duration and the
// capture time of its first byte.
type item struct {
	s      mp4.TimedSample
	timeUS int64
}

// viewer is one open stream response.
type viewer struct {
	ch      chan msg
	initGen int  // init segment this viewer has, 0 for none
	done    bool // channel closed
}

// msg is what a viewer's writer receives: a new init segment (first, or
// the stream changed) followed by frames.
type msg struct {
	init  []byte
	codec string
	it    item
}

// publish reports whether a frame was queued for a viewer.
func (c *camera) publish(hello wire.Hello, f wire.Frame) (queued bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tl == nil || hello.StreamID != c.hello.StreamID || f.TimeUS < c.lastUS {
		// A new sender run (or a clock that went back) starts a new
		// timeline; viewers pick up the new init at the next keyframe.
		c.tl = mp4.NewTimeline(hello)
		c.hello = hello
		c.pending = nil
		c.gop, c.gopBytes = nil, 0
		c.init = nil
	}
	c.lastUS, c.lastAt = f.TimeUS, time.Now()
	c.rate.add(c.lastAt, len(f.Payload))
	smp, changed, err := c.tl.Push(f.Payload, f.TimeUS)
	if err != nil {
		if !errors.Is(err, mp4.ErrNoParams) {
			c.errs++
			if c.errs <= 3 {
				c.srv.logf("live: camera %s: frame %d: %v", c.name, f.Seq, err)
			}
		}
		if c.init == nil {
			c.tl = nil // start over at the next keyframe
		}
		return false
	}
	c.frames++
	if changed || c.init == nil {
		sps, pps := c.tl.Params()
		b, err := mp4.InitSegment(sps, pps)
		if err != nil {
			c.srv.logf("live: camera %s: %v", c.name, err)
			c.tl = nil
			return false
		}
		if c.pending != nil { // the old stream's last frame
			queued = c.emit(item{mp4.TimedSample{Sample: *c.pending, Duration: uint32(c.tl.FrameTicks())}, c.pendUS})
			c.pending = nil
		}
		c.init = b
		c.codec = fmt.Sprintf(`video/mp4; codecs="%s"`, mp4.CodecString(sps))
		c.initGen++
		c.gop, c.gopBytes = nil, 0
	}
	// A frame goes out when its successor fixes its duration: one frame
	// of latency buys exact timestamps in the browser.
	if c.pending != nil {
		d := smp.DTS - c.pending.DTS
		if d <= 0 {
			d = 1
		}
		queued = c.emit(item{mp4.TimedSample{Sample: *c.pending, Duration: uint32(d)}, c.pendUS}) || queued
	}
	c.pending = &smp // smp.AVCC is a fresh copy made by Push
	c.pendUS = f.TimeUS
	return queued
}

// emit sends one finished frame to the GOP cache and every viewer, and
// reports whether any viewer took it.
func (c *camera) emit(it item) (queued bool) {
	maxGOP := c.srv.MaxGOPBytes
	if maxGOP <= 0 {
		maxGOP = 16 << 20
	}
	if it.s.Key {
		c.gop, c.gopBytes = c.gop[:0], 0
	}
	if c.gop != nil || it.s.Key {
		c.gop = append(c.gop, it)
		c.gopBytes += len(it.s.AVCC)
		if c.gopBytes > maxGOP { // very long GOP: new viewers wait for a keyframe
			c.gop, c.gopBytes = nil, 0
		}
	}
	for v := range c.viewers {
		queued = c.send(v, it) || queued
	}
	return queued
}

// send queues it for v without blocking and reports whether it did. A
// viewer whose queue is full, or that has not got the current init
// segment yet, waits for a keyframe.
func (c *camera) send(v *viewer, it item) bool {
	m := msg{it: it}
	if v.initGen != c.initGen {
		if !it.s.Key {
			return false
		}
		m.init, m.codec = c.init, c.codec
	}
	select {
	case v.ch <- m:
		v.initGen = c.initGen
		return true
	default:
		c.skipped++
		v.initGen = -1 // resend init at the next keyframe: the writer resyncs there
		return false
	}
}

func (c *camera) drop(v *viewer) {
	if !v.done {
		v.done = true
		close(v.ch)
	}
	delete(c.viewers, v)
}

// join adds a viewer and queues the current GOP so it starts at once.
func (c *camera) join(queue int) *viewer {
	c.mu.Lock()
	defer c.mu.Unlock()
	v := &viewer{ch: make(chan msg, queue+len(c.gop))}
	c.viewers[v] = struct{}{}
	for _, it := range c.gop {
		c.send(v, it)
	}
	return v
}

func (c *camera) leave(v *viewer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.drop(v)
}

// liveStats is the live view's own part of a camera's status.
type liveStats struct {
	Live       bool      `json:"live"`
	Viewers    int       `json:"viewers"`
	Frames     uint64    `json:"frames_published"`
	LastFrame  time.Time `json:"last_frame,omitzero"`
	Skipped    uint64    `json:"frames_skipped_by_slow_viewers"`
	BitrateBps float64   `json:"bitrate_bps"`
	Codec      string    `json:"codec,omitempty"`
	Width      uint16    `json:"width,omitempty"`
	Height     uint16    `json:"height,omitempty"`
	FPS        float64   `json:"fps,omitempty"`
	BadFrames  int       `json:"undecodable_frames,omitempty"`
	GOPFrames  int       `json:"gop_frames"`
	Generation int       `json:"stream_generation"`
}

func (c *camera) stats() liveStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return liveStats{
		Live:       c.init != nil && time.Since(c.lastAt) < 5*time.Second,
		Viewers:    len(c.viewers),
		Frames:     c.frames,
		LastFrame:  c.lastAt,
		Skipped:    c.skipped,
		BitrateBps: c.rate.bps,
		Codec:      c.codec,
		Width:      c.hello.Width,
		Height:     c.hello.Height,
		FPS:        c.hello.FPS(),
		BadFrames:  c.errs,
		GOPFrames:  len(c.gop),
		Generation: c.initGen,
	}
}
