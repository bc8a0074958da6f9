package live

import (
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/camwire/camwire/mp4"
	"github.com/camwire/camwire/wire"
)

// writeTimeout drops a viewer whose connection takes no bytes for this
// long; its queue has long overflowed by then.
const writeTimeout = 10 * time.Second

// waitForStream is how long a stream request waits for the camera's next
// keyframe before giving up with 503; the page retries.
const waitForStream = 30 * time.Second

// cameraName returns the {name} path value if it is a valid camera name,
// else answers 404 and returns "".
func cameraName(w http.ResponseWriter, r *http.Request) string {
	name := r.PathValue("name")
	if err := wire.ValidName(name); err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return ""
	}
	return name
}

// serveStream answers /cam/NAME/stream.mp4: an endless fragmented MP4,
// init segment first, one fragment per frame, starting at the last
// keyframe. ffplay, VLC and the page's Media Source all read it.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request) {
	name := cameraName(w, r)
	if name == "" {
		return
	}
	queue := s.QueueFrames
	if queue <= 0 {
		queue = 90
	}
	c := s.lookup(name)
	if c == nil {
		// Wait for a camera that has recordings here (it may be about to
		// reconnect), but do not keep state for any name a client makes up.
		root, err := s.openCamera(name)
		if err != nil {
			http.Error(w, fmt.Sprintf("no camera %s", name), http.StatusNotFound)
			return
		}
		root.Close()
		c = s.camera(name)
	}
	v := c.join(queue)
	defer c.leave(v)

	var first msg
	select {
	case m, ok := <-v.ch:
		if !ok {
			http.Error(w, "live view closed", http.StatusServiceUnavailable)
			return
		}
		first = m
	case <-r.Context().Done():
		return
	case <-time.After(waitForStream):
		http.Error(w, fmt.Sprintf("camera %s sent no keyframe for %v", name, waitForStream), http.StatusServiceUnavailable)
		return
	}

	h := w.Header()
	h.Set("Content-Type", first.codec)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	// Where the viewer's timeline sits on the camera's clock: the first
	// frame's capture time and its presentation time in the stream, so a
	// player (and the browser test) can tell how far behind live it is.
	h.Set("X-Camwire-Capture-Us", strconv.FormatInt(first.it.timeUS, 10))
	h.Set("X-Camwire-Pts-Us", strconv.FormatInt(int64(first.it.s.PTSOffset)*1e6/mp4.TimeScale, 10))
	rc := http.NewResponseController(w)
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout)) // unsupported by some writers: then no deadline
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write(first.init) {
		return
	}
	init := first.init
	// The viewer's timeline starts at 0 and stays contiguous: after a skip
	// (slow viewer) or a new sender run the next keyframe continues where
	// the viewer's last frame ended, so the browser never meets a hole.
	var base, end int64
	seq := uint32(1)
	m := first
	var frag []byte // each frame's moof+mdat, one buffer reused
	for {
		if m.init != nil {
			if string(m.init) != string(init) {
				return // new SPS/PPS: the client reconnects and gets the new init
			}
			base = m.it.s.DTS - end
		}
		t := m.it.s.DTS - base
		var err error
		frag, err = mp4.AppendFragment(frag[:0], seq, uint64(t), []mp4.TimedSample{m.it.s})
		if err != nil {
			s.logf("live: camera %s: %v", name, err)
			return
		}
		if !write(frag) {
			return
		}
		seq++
		end = t + int64(m.it.s.Duration)

		select {
		case next, ok := <-v.ch:
			if !ok {
				return
			}
			m = next
		case <-r.Context().Done():
			return
		}
	}
}

// serveStatus answers /cam/NAME/status.json with the receiver's snapshot
// and the live view's own counters.
func (s *Server) serveStatus(w http.ResponseWriter, r *http.Request) {
	name := cameraName(w, r)
	if name == "" {
		return
	}
	out := struct {
		Camera   string        `json:"camera"`
		Receiver *CameraStatus `json:"receiver,omitempty"`
		Live     *liveStats    `json:"live,omitempty"`
	}{Camera: name}
	if s.status != nil {
		if st, ok := s.status(name); ok {
			out.Receiver = &st
		}
	}
	if c := s.lookup(name); c != nil {
		ls := c.stats()
		out.Live = &ls
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(out)
}

// Recording is one file in DIR/<camera>/.
type Recording struct {
	Name     string    `json:"name"`
	Size     int64     `json:"size"`
	Modified time.Time `json:"modified"`
	Playable bool      `json:"playable"` // a browser can play it (MP4)
}

// recordings lists the regular, non-hidden files of camera's folder,
// newest first.
func (s *Server) recordings(camera string) ([]Recording, error) {
	if s.dir == "" {
		return nil, nil
	}
	root, err := s.openCamera(camera)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer root.Close()
	ents, err := readDir(root, ".")
	if err != nil {
		return nil, err
	}
	var recs []Recording
	for _, e := range ents {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		recs = append(recs, Recording{
			Name:     e.Name(),
			Size:     fi.Size(),
			Modified: fi.ModTime(),
			Playable: isMP4(e.Name()),
		})
	}
	sort.Slice(recs, func(i, j int) bool {
		if !recs[i].Modified.Equal(recs[j].Modified) {
			return recs[i].Modified.After(recs[j].Modified)
		}
		return recs[i].Name > recs[j].Name
	})
	return recs, nil
}

func (s *Server) serveRecordingsJSON(w http.ResponseWriter, r *http.Request) {
	name := cameraName(w, r)
	if name == "" {
		return
	}
	recs, err := s.recordings(name)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(recs)
}

// serveFile answers /cam/NAME/files/FILE with one recording, read-only and
// with Range support (seeking in the browser). The file is opened through
// an os.Root for DIR/NAME, so no name, link or "..", can reach outside it.
// ?download asks the browser to save instead of play.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request) {
	name := cameraName(w, r)
	if name == "" {
		return
	}
	file := r.PathValue("file")
	if s.dir == "" || file == "" || strings.HasPrefix(file, ".") || strings.ContainsAny(file, `/\:`) || !filepath.IsLocal(file) {
		http.Error(w, fmt.Sprintf("no recording %q", file), http.StatusNotFound)
		return
	}
	root, err := s.openCamera(name)
	if err != nil {
		http.Error(w, fmt.Sprintf("camera %s has no recordings", name), http.StatusNotFound)
		return
	}
	defer root.Close()
	f, err := root.Open(file)
	if err != nil {
		http.Error(w, fmt.Sprintf("no recording %q", file), http.StatusNotFound)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		http.Error(w, fmt.Sprintf("no recording %q", file), http.StatusNotFound)
		return
	}
	ct := mime.TypeByExtension(filepath.Ext(file))
	switch {
	case isMP4(file):
		ct = "video/mp4"
	case strings.EqualFold(filepath.Ext(strings.TrimSuffix(file, ".partial")), ".h264"):
		ct = "video/h264"
	}
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.URL.Query().Has("download") {
		w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": file}))
	}
	http.ServeContent(w, r, file, fi.ModTime(), f)
}

// cameras lists every camera with a live stream or a recordings folder.
func (s *Server) cameras() []string {
	seen := map[string]bool{}
	for _, n := range s.liveNames() {
		seen[n] = true
	}
	if s.dir != "" {
		ents, _ := os.ReadDir(s.dir)
		for _, e := range ents {
			if e.IsDir() && wire.ValidName(e.Name()) == nil {
				seen[e.Name()] = true
			}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (s *Server) serveIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := indexTmpl().Execute(w, struct {
		MaxLive int
		Cameras []string
	}{maxLiveTiles, s.cameras()}); err != nil {
		s.logf("live: index page: %v", err)
	}
}

func (s *Server) servePage(w http.ResponseWriter, r *http.Request) {
	name := cameraName(w, r)
	if name == "" {
		return
	}
	recs, err := s.recordings(name)
	if err != nil {
		s.logf("live: camera %s: listing recordings: %v", name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	var report *BootReport
	if rep, ok := s.latestReport(name); ok {
		report = &rep
	}
	if err := pageTmpl().Execute(w, struct {
		Name       string
		Recordings []Recording
		ListErr    error
		Report     *BootReport
	}{name, recs, err, report}); err != nil {
		s.logf("live: camera %s page: %v", name, err)
	}
}

var pageTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("page").Funcs(template.FuncMap{
		"size": func(n int64) string {
			switch {
			case n >= 1<<30:
				return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
			case n >= 1<<20:
				return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
			case n >= 1<<10:
				return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
			}
			return fmt.Sprintf("%d B", n)
		},
		"when":  func(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") },
		"zooms": func() []zoom { return zooms },
	}).Parse(pageHTML + timelineHTML))
})

// isMP4 reports whether a browser can play the file: an MP4, finished or
// still being written (a fragmented MP4 plays up to its last fragment).
func isMP4(name string) bool {
	return strings.EqualFold(filepath.Ext(strings.TrimSuffix(name, ".partial")), ".mp4")
}
