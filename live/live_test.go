package live

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camwire/camwire/mp4/mp4test"
	"github.com/camwire/camwire/wire"
)

func isKey(au []byte) bool {
	for i := 0; i+3 < len(au); i++ {
		if au[i] == 0 && au[i+1] == 0 && au[i+2] == 1 && au[i+3]&0x1f == 5 {
			return true
		}
	}
	return false
}

// publisher plays a clip into a Server as a camera would, looping it
// (every loop starts at the clip's IDR) with timestamps at 30 fps.
type publisher struct {
	srv   *Server
	name  string
	hello wire.Hello
	aus   [][]byte

	mu sync.Mutex
	n  int // frames published
}

func newPublisher(t *testing.T, srv *Server, name string, x264 ...string) *publisher {
	t.Helper()
	aus := mp4test.SplitAUs(t, mp4test.EncodeClip(t, "320x240", 2, x264...))
	return &publisher{
		srv:   srv,
		name:  name,
		hello: wire.Hello{Name: name, Codec: "h264", Width: 320, Height: 240, FPSNum: 30, FPSDen: 1, StreamID: [16]byte{1}},
		aus:   aus,
	}
}

// publish sends the next n frames at once.
func (p *publisher) publish(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range n {
		au := p.aus[p.n%len(p.aus)]
		p.srv.Publish(p.name, p.hello, wire.Frame{
			Seq: uint64(p.n + 1), Segment: 1, TimeUS: int64(p.n) * 1e6 / 30, Key: isKey(au), Payload: au,
		})
		p.n++
	}
}

// published returns the number of frames published so far.
func (p *publisher) published() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// run publishes at the clip's real rate until the test ends.
func (p *publisher) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second / 30)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				p.publish(1)
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// newServer starts a live server over httptest; dir may be "".
func newServer(t *testing.T, dir string, status func(string) (CameraStatus, bool)) (*Server, *httptest.Server) {
	t.Helper()
	s := New(dir, status)
	s.Logf = t.Logf
	ts := httptest.NewServer(s)
	t.Cleanup(func() { s.Close(); ts.Close() })
	return s, ts
}

// TestStreamPlaysInFFmpeg: the stream URL is what ffplay and VLC would
// open; ffmpeg (same demuxer as ffplay) decodes it without a word, with
// B-frames too.
func TestStreamPlaysInFFmpeg(t *testing.T) {
	for _, tt := range []struct {
		name string
		x264 []string
	}{
		{"no B-frames", []string{"-bf", "0", "-g", "30"}},
		{"B-frames", []string{"-bf", "2", "-g", "30"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, ts := newServer(t, "", nil)
			p := newPublisher(t, s, "cam1", tt.x264...)
			p.publish(20) // a GOP in the cache: the viewer starts at once
			p.run(t)

			url := ts.URL + "/cam/cam1/stream.mp4"
			resp, err := http.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			ct := resp.Header.Get("Content-Type")
			resp.Body.Close()
			if !strings.HasPrefix(ct, `video/mp4; codecs="avc1.`) {
				t.Errorf("Content-Type = %q, want video/mp4 with avc1 codecs", ct)
			}

			const frames = 60
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-i", url, "-frames:v", fmt.Sprint(frames), "-f", "framemd5", "-")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("ffmpeg %s: %v\n%s", url, err, stderr.Bytes())
			}
			if stderr.Len() != 0 {
				t.Errorf("ffmpeg -v error printed:\n%s", stderr.Bytes())
			}
			got := 0
			var prevPTS int64 = -1
			for _, l := range strings.Split(string(out), "\n") {
				if l == "" || l[0] == '#' {
					continue
				}
				got++
				var stream, dts, pts int64
				fmt.Sscanf(l, "%d, %d, %d", &stream, &dts, &pts)
				if pts <= prevPTS {
					t.Errorf("frame %d: pts %d after %d, want increasing", got, pts, prevPTS)
				}
				prevPTS = pts
			}
			if got != frames {
				t.Errorf("ffmpeg decoded %d frames from the stream, want %d", got, frames)
			}
		})
	}
}

// TestSlowViewerNeverBlocksPublish: a client that requests the stream and
// never reads must not slow Publish; it loses frames instead.
func TestSlowViewerNeverBlocksPublish(t *testing.T) {
	s, ts := newServer(t, "", nil)
	s.QueueFrames = 4
	p := newPublisher(t, s, "cam1", "-bf", "0", "-g", "30", "-crf", "0") // big frames fill sockets fast
	p.publish(1)

	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /cam/cam1/stream.mp4 HTTP/1.1\r\nHost: x\r\n\r\n")
	// Wait for the viewer to be registered: the response headers come
	// once it has its first frame.
	p.publish(30)
	br := make([]byte, 1)
	if _, err := conn.Read(br); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		p.publish(3000)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("Publish blocked behind a viewer that does not read")
	}
	c := s.lookup("cam1")
	if st := c.stats(); st.Skipped == 0 || st.Viewers != 1 {
		t.Errorf("stats = %+v, want frames skipped for the one stalled viewer", st)
	}
}

func TestFilesArePathSafe(t *testing.T) {
	dir := t.TempDir()
	camDir := filepath.Join(dir, "cam1")
	must(t, os.MkdirAll(camDir, 0o755))
	must(t, os.WriteFile(filepath.Join(camDir, "20260101-000000.mp4"), []byte("0123456789"), 0o644))
	must(t, os.WriteFile(filepath.Join(camDir, "20260101-000100.mp4.partial"), []byte("abc"), 0o644))
	must(t, os.WriteFile(filepath.Join(camDir, ".hidden"), []byte("x"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("secret"), 0o644))
	must(t, os.Symlink(filepath.Join(dir, "secret.txt"), filepath.Join(camDir, "link.mp4")))
	must(t, os.Mkdir(filepath.Join(camDir, "sub"), 0o755))
	_, ts := newServer(t, dir, nil)

	for _, tt := range []struct {
		name, path string
		header     map[string]string
		wantCode   int
		wantBody   string
		wantHeader map[string]string
	}{
		{"file", "/cam/cam1/files/20260101-000000.mp4", nil, 200, "0123456789", map[string]string{"Content-Type": "video/mp4"}},
		{"range", "/cam/cam1/files/20260101-000000.mp4", map[string]string{"Range": "bytes=2-4"}, 206, "234", nil},
		{"download", "/cam/cam1/files/20260101-000000.mp4?download", nil, 200, "0123456789",
			map[string]string{"Content-Disposition": `attachment; filename=20260101-000000.mp4`}},
		{"partial mp4 plays", "/cam/cam1/files/20260101-000100.mp4.partial", nil, 200, "abc", map[string]string{"Content-Type": "video/mp4"}},
		{"dot dot", "/cam/cam1/files/..%2fsecret.txt", nil, 404, "", nil},
		{"dot dot camera", "/cam/..%2f/files/secret.txt", nil, 404, "", nil},
		{"symlink out of the folder", "/cam/cam1/files/link.mp4", nil, 404, "", nil},
		{"hidden", "/cam/cam1/files/.hidden", nil, 404, "", nil},
		{"directory", "/cam/cam1/files/sub", nil, 404, "", nil},
		{"missing", "/cam/cam1/files/nope.mp4", nil, 404, "", nil},
		{"bad camera name", "/cam/CON/files/x.mp4", nil, 404, "", nil},
		{"unknown camera", "/cam/cam2/files/x.mp4", nil, 404, "", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", ts.URL+tt.path, nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("GET %s = %d %q, want %d", tt.path, resp.StatusCode, body, tt.wantCode)
			}
			if tt.wantBody != "" && string(body) != tt.wantBody {
				t.Errorf("GET %s body = %q, want %q", tt.path, body, tt.wantBody)
			}
			if string(body) == "secret" {
				t.Errorf("GET %s leaked the file outside the folder: %q", tt.path, body)
			}
			for k, v := range tt.wantHeader {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("GET %s header %s = %q, want %q", tt.path, k, got, v)
				}
			}
		})
	}
}

func TestPageListsRecordingsAndStatus(t *testing.T) {
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "cam1"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "cam1", "20260101-000000.mp4"), []byte("x"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "cam1", "20260101-000100.h264"), []byte("x"), 0o644))
	status := func(cam string) (CameraStatus, bool) {
		if cam != "cam1" {
			return CameraStatus{}, false
		}
		return CameraStatus{Connected: true, BitrateBps: 16e6, LastAck: 42, TempMilliC: 51234, Errors: []string{"disk nearly full"}}, true
	}
	s, ts := newServer(t, dir, status)
	p := newPublisher(t, s, "cam1", "-bf", "0", "-g", "30")
	p.publish(5)

	for _, tt := range []struct {
		path string
		want []string
	}{
		{"/", []string{`href="/cam/cam1/"`}},
		{"/cam/cam1/", []string{"20260101-000000.mp4", `href="files/20260101-000000.mp4"`, "20260101-000100.h264?download", "MediaSource"}},
		{"/cam/cam1/status.json", []string{`"connected":true`, `"last_ack":42`, `"temp_milli_c":51234`, `"disk nearly full"`, `"frames_published":5`}},
		{"/cam/cam1/recordings.json", []string{`"name":"20260101-000100.h264"`, `"playable":true`}},
	} {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := http.Get(ts.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("GET %s = %d %s", tt.path, resp.StatusCode, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(body), w) {
					t.Errorf("GET %s: body lacks %s:\n%s", tt.path, w, body)
				}
			}
		})
	}
	var recs []Recording
	resp, err := http.Get(ts.URL + "/cam/cam1/recordings.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	must(t, json.NewDecoder(resp.Body).Decode(&recs))
	if len(recs) != 2 {
		t.Errorf("recordings = %+v, want 2", recs)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestStreamOfUnknownCamera: a made-up name gets 404 at once and leaves
// no state behind.
func TestStreamOfUnknownCamera(t *testing.T) {
	s, ts := newServer(t, t.TempDir(), nil)
	for _, path := range []string{"/cam/nobody/stream.mp4", "/cam/..%2f/stream.mp4", "/cam/CON/stream.mp4"} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("GET %s = %d, want 404", path, resp.StatusCode)
		}
	}
	if n := s.liveNames(); len(n) != 0 {
		t.Errorf("cameras after requests for unknown ones = %v, want none", n)
	}
}
