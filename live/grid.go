package live

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"sync"
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

// indexHTML is the grid page, an html/template (maxLive comes from
// maxLiveTiles); a file of its own, as page.html is.
//
//go:embed index.html
var indexHTML string

// indexTmpl and pageTmpl are parsed on first use, not at package
// initialisation: parsing both took 450 allocations and 0.17 ms of every
// camwire-recv start (GODEBUG=inittrace=1), also for a receiver that
// serves no page. The live tests render both.
var indexTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("index").Parse(indexHTML))
})
