package live

import (
	"net/http"
	"path/filepath"
	"slices"
	"strings"
)

// bootReportDir is where camwire-recv keeps a camera's boot reports
// (recv stores them; see docs/PROTOCOL.md, "Boot report").
var bootReportDir = filepath.Join(".camwire", "boot") // in the camera's folder

// BootReport is a camera's latest boot report as the page shows it.
type BootReport struct {
	File    string // base name: the UTC time it arrived
	Summary string // its first line
	Text    string
	Count   int // reports kept for this camera
}

// latestReport reads the newest report under DIR/<camera>/.camwire/boot:
// the names are UTC times, so the last in order is the newest.
func (s *Server) latestReport(camera string) (BootReport, bool) {
	if s.dir == "" {
		return BootReport{}, false
	}
	cam, err := s.openCamera(camera)
	if err != nil {
		return BootReport{}, false
	}
	defer cam.Close()
	d, err := cam.OpenRoot(bootReportDir)
	if err != nil {
		return BootReport{}, false
	}
	defer d.Close()
	ents, err := readDir(d, ".")
	if err != nil {
		return BootReport{}, false
	}
	var names []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".txt") {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return BootReport{}, false
	}
	slices.SortFunc(names, func(a, b string) int {
		// 20261202T010203Z.txt < 20261202T010203Z-2.txt < …T010204Z.txt
		ka, kb := strings.TrimSuffix(a, ".txt"), strings.TrimSuffix(b, ".txt")
		if x, y := ka[:min(16, len(ka))], kb[:min(16, len(kb))]; x != y {
			return strings.Compare(x, y)
		}
		if len(ka) != len(kb) {
			return len(ka) - len(kb)
		}
		return strings.Compare(ka, kb)
	})
	last := names[len(names)-1]
	b, err := d.ReadFile(last)
	if err != nil {
		return BootReport{}, false
	}
	text := string(b)
	first, _, _ := strings.Cut(text, "\n")
	return BootReport{File: last, Summary: first, Text: text, Count: len(names)}, true
}

// serveBootReport answers /cam/NAME/boot.txt with the latest report, as
// plain text a user can save and send on.
func (s *Server) serveBootReport(w http.ResponseWriter, r *http.Request) {
	name := cameraName(w, r)
	if name == "" {
		return
	}
	rep, ok := s.latestReport(name)
	if !ok {
		http.Error(w, "no boot report from camera "+name, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write([]byte(rep.Text))
}
