package live

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/camwire/camwire/mp4/mp4test"
)

func fetch(t *testing.T, u string) (int, []byte) {
	t.Helper()
	res, err := http.Get(u)
	must(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	must(t, err)
	return res.StatusCode, b
}

// TestGridAndPlaybackRoutes: /cameras.json has a tile per camera, still.mp4
// is one decodable frame, and the playback API answers on the live
// server, refusing paths outside DIR.
func TestGridAndPlaybackRoutes(t *testing.T) {
	dir := t.TempDir()
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	recordSpan(t, dir, "door", start, 2, 3)
	s, ts := newServer(t, dir, func(name string) (CameraStatus, bool) {
		return CameraStatus{Connected: name == "yard", BitrateBps: 2e6}, name == "yard"
	})
	p := newPublisher(t, s, "yard", "-g", "30")
	p.publish(40)

	code, body := fetch(t, ts.URL+"/cameras.json")
	var tiles []cameraTile
	must(t, json.Unmarshal(body, &tiles))
	type brief struct {
		Name       string
		Connected  bool
		Live       bool
		Recordings int
	}
	var got []brief
	for _, c := range tiles {
		got = append(got, brief{c.Name, c.Connected, c.Live, c.Recordings})
	}
	want := []brief{{"door", false, false, 2}, {"yard", true, true, 0}}
	if diff := cmp.Diff(want, got); code != 200 || diff != "" {
		t.Errorf("cameras.json %d (-want +got):\n%s", code, diff)
	}

	code, body = fetch(t, ts.URL+"/cam/yard/still.mp4")
	if code != 200 {
		t.Fatalf("still.mp4: %d %s", code, body)
	}
	still := filepath.Join(t.TempDir(), "still.mp4")
	must(t, os.WriteFile(still, body, 0o644))
	if pr := mp4test.Probe(t, still); pr.Frames != 1 || pr.Width != 320 || pr.Stderr != "" {
		t.Errorf("still.mp4: %d frames %dpx wide: %s", pr.Frames, pr.Width, pr.Stderr)
	}
	if code, _ := fetch(t, ts.URL+"/cam/door/still.mp4"); code != 404 {
		t.Errorf("still.mp4 of an offline camera: %d, want 404", code)
	}

	code, body = fetch(t, ts.URL+"/list?path=door")
	var list []struct {
		Start    time.Time
		Duration float64
	}
	must(t, json.Unmarshal(body, &list))
	if code != 200 || len(list) != 1 || !list[0].Start.Equal(start) || list[0].Duration != 6 {
		t.Errorf("/list?path=door = %d %s, want one span of 6 s from %v", code, body, start)
	}
	for _, u := range []string{"/list?path=../..", "/list?path=door%2f..", "/get?path=..&start=2026-01-01T00:00:00Z&duration=1"} {
		if code, body := fetch(t, ts.URL+u); code != 400 {
			t.Errorf("GET %s = %d %s, want 400", u, code, body)
		}
	}
}
