package playback

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/camwire/camwire/wire"
)

// Server answers /list and /get for the recordings under Dir, where each
// camera's files are in DIR/<camera>/. The "path" parameter is the camera
// name (MediaMTX's path); it must be a valid camera name, so it never
// names anything outside DIR.
type Server struct {
	dir string
	// Logf reports errors met after a file began to stream; nil means
	// log.Printf.
	Logf func(format string, args ...any)

	mu    sync.Mutex
	cache map[string]cached // by file path
}

// cached is a parsed segment and the file state it was parsed from: a
// finished recording is parsed once, a growing one again when it grew.
type cached struct {
	size    int64
	modTime time.Time
	seg     *segment
}

// New returns a playback server for the recordings under dir.
func New(dir string) *Server { return &Server{dir: dir, cache: map[string]cached{}} }

// ServeHTTP answers GET /list and GET /get; anything else is 404.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/list":
		s.serveList(w, r)
	case "/get":
		s.serveGet(w, r)
	default:
		http.NotFound(w, r)
	}
}

// writeError answers like MediaMTX: {"status":"error","error":"…"}.
func writeError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	}{"error", err.Error()})
}

// Spans returns camera's recorded spans in time order.
func (s *Server) Spans(camera string) ([]Span, error) {
	sp, err := s.spans(camera)
	if err != nil {
		return nil, err
	}
	out := make([]Span, len(sp))
	for i, x := range sp {
		out[i] = Span{Start: x.start(), Duration: x.end().Sub(x.start())}
	}
	return out, nil
}

// Span is one gapless stretch of recording.
type Span struct {
	Start    time.Time
	Duration time.Duration
}

// spans reads camera's folder through an os.Root, so neither a name nor a
// link in it reaches outside DIR/<camera>.
func (s *Server) spans(camera string) ([]span, error) {
	if err := wire.ValidName(camera); err != nil {
		return nil, fmt.Errorf("invalid path name: %w", err)
	}
	top, err := os.OpenRoot(s.dir)
	if err != nil {
		return nil, fmt.Errorf("no recordings for %s: %w", camera, fs.ErrNotExist)
	}
	defer top.Close()
	// Through top, a camera folder that is a link out of DIR is refused.
	root, err := top.OpenRoot(camera)
	if err != nil {
		return nil, fmt.Errorf("no recordings for %s: %w", camera, fs.ErrNotExist)
	}
	defer root.Close()
	ents, err := fs.ReadDir(root.FS(), ".")
	if err != nil {
		return nil, err
	}
	var segs []*segment
	seen := map[string]bool{}
	for _, e := range ents {
		if !e.Type().IsRegular() || !isRecording(e.Name()) {
			continue
		}
		seen[filepath.Join(camera, e.Name())] = true
		seg, err := s.segment(root, camera, e.Name())
		if err != nil {
			continue // no frame yet, or removed meanwhile; the others still play
		}
		segs = append(segs, seg)
	}
	// Forget files that are gone (retention, a rename from .partial).
	s.mu.Lock()
	for k := range s.cache {
		if filepath.Dir(k) == camera && !seen[k] {
			delete(s.cache, k)
		}
	}
	s.mu.Unlock()
	return spans(segs), nil
}

func (s *Server) segment(root *os.Root, camera, name string) (*segment, error) {
	fi, err := root.Stat(name)
	if err != nil {
		return nil, err
	}
	key := filepath.Join(camera, name)
	s.mu.Lock()
	c, ok := s.cache[key]
	s.mu.Unlock()
	if ok && c.size == fi.Size() && c.modTime.Equal(fi.ModTime()) {
		return c.seg, nil
	}
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	seg, err := readSegment(f, fi.Size(), name)
	f.Close()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.cache[key] = cached{fi.Size(), fi.ModTime(), seg}
	s.mu.Unlock()
	return seg, nil
}

// listEntry is one /list entry, MediaMTX's JSON: duration in seconds.
type listEntry struct {
	Start    time.Time `json:"start"`
	Duration float64   `json:"duration"`
	URL      string    `json:"url"`
}

func parseTime(q url.Values, key string) (*time.Time, error) {
	raw := q.Get(key)
	if raw == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, raw)
	if err != nil {
		return nil, fmt.Errorf("invalid %s: %w", key, err)
	}
	return &t, nil
}

func (s *Server) serveList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	camera := q.Get("path")
	start, err := parseTime(q, "start")
	if err == nil {
		var end *time.Time
		end, err = parseTime(q, "end")
		if err == nil {
			s.list(w, r, camera, start, end)
			return
		}
	}
	writeError(w, http.StatusBadRequest, err)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, camera string, start, end *time.Time) {
	if err := wire.ValidName(camera); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("invalid path name: %w (%q)", err, camera))
		return
	}
	all, err := s.spans(camera)
	if err != nil {
		writeError(w, http.StatusNotFound, err)
		return
	}
	entries := []listEntry{}
	for _, sp := range all {
		a, b := sp.start(), sp.end()
		if start != nil && a.Before(*start) {
			a = *start
		}
		if end != nil && b.After(*end) {
			b = *end
		}
		if !b.After(a) {
			continue
		}
		entries = append(entries, listEntry{Start: a, Duration: b.Sub(a).Seconds()})
	}
	if len(entries) == 0 {
		writeError(w, http.StatusNotFound, errors.New("no recording segments found"))
		return
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	for i := range entries {
		v := url.Values{}
		v.Set("path", camera)
		v.Set("start", entries[i].Start.Format(time.RFC3339Nano))
		v.Set("duration", strconv.FormatFloat(entries[i].Duration, 'f', -1, 64))
		entries[i].URL = (&url.URL{Scheme: scheme, Host: r.Host, Path: "/get", RawQuery: v.Encode()}).String()
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(entries)
}

// parseDuration reads seconds, or a Go duration as MediaMTX still accepts.
func parseDuration(raw string) (time.Duration, error) {
	if secs, err := strconv.ParseFloat(raw, 64); err == nil {
		return time.Duration(secs * float64(time.Second)), nil
	}
	return time.ParseDuration(raw)
}

func (s *Server) serveGet(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	camera := q.Get("path")
	if err := wire.ValidName(camera); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("invalid path name: %w (%q)", err, camera))
		return
	}
	start, err := time.Parse(time.RFC3339, q.Get("start"))
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("invalid start: %w", err))
		return
	}
	d, err := parseDuration(q.Get("duration"))
	if err != nil || d <= 0 {
		if err == nil {
			err = fmt.Errorf("%v is not positive", d)
		}
		writeError(w, http.StatusBadRequest, fmt.Errorf("invalid duration: %w", err))
		return
	}
	format := q.Get("format")
	if format != "" && format != "fmp4" && format != "mp4" {
		writeError(w, http.StatusBadRequest, fmt.Errorf("invalid format: %s", format))
		return
	}
	all, err := s.spans(camera)
	if err != nil {
		writeError(w, http.StatusNotFound, err)
		return
	}
	samples, seg, err := cut(all, start, d)
	if err != nil {
		writeError(w, http.StatusNotFound, err)
		return
	}
	src, err := s.open(camera)
	if err != nil {
		writeError(w, http.StatusNotFound, err)
		return
	}
	defer src.close()
	h := w.Header()
	h.Set("Content-Type", "video/mp4")
	h.Set("Accept-Ranges", "none")
	if q.Has("download") {
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{
			"filename": fmt.Sprintf("%s-%s.mp4", camera, samples[0].at.UTC().Format(nameLayout))}))
	}
	// The headers are sent with the first bytes; an error after that can
	// only cut the file short, and is logged.
	if format == "mp4" {
		err = muxMP4(w, src, seg, samples)
	} else {
		err = muxFMP4(w, src, seg, samples)
	}
	if err != nil {
		s.logf("playback: %s: %v", camera, err)
	}
}

// open opens camera's folder for reading samples, through DIR's root as
// spans does.
func (s *Server) open(camera string) (*files, error) {
	top, err := os.OpenRoot(s.dir)
	if err != nil {
		return nil, err
	}
	defer top.Close()
	root, err := top.OpenRoot(camera)
	if err != nil {
		return nil, fmt.Errorf("no recordings for %s: %w", camera, fs.ErrNotExist)
	}
	return &files{root: root, open: map[string]*os.File{}}, nil
}

func (s *Server) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
		return
	}
	log.Printf(format, args...)
}
