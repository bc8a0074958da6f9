package rtsp

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/camwire/camwire/internal/peers"
)

var ffPTSTimeRE = regexp.MustCompile(`(?m)^packet\|pts_time=([0-9.]+)`)

// TestMediaMTXPulls: MediaMTX takes a camwire camera as its path's
// source (source: rtsp://…/garden) and records it. The recording holds an
// unbroken run of the frames sent, at their capture times, ending with
// the last; it may start a GOP late (MediaMTX starts a recording at a
// keyframe).
func TestMediaMTXPulls(t *testing.T) {
	peers.Path(t, "mediamtx")
	s, ready, plays := startServer(t, nil)
	c := newCam(t, "garden")
	s.Frame(c.hello.Name, c.hello, c.frame(0))
	url := recv(t, ready, "camera served")
	rec := t.TempDir()
	var stopAt, sentN atomicInt
	stopAt.set(1 << 40)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second / clipFPS)
		defer tick.Stop()
		n := 1
		for ; n < stopAt.get(); n++ {
			<-tick.C
			s.Frame(c.hello.Name, c.hello, c.frame(n))
			sentN.set(n + 1)
		}
	}()
	m := peers.StartMediaMTX(t, "", fmt.Sprintf(`  garden:
    source: %s
    rtspTransport: tcp
    record: yes
    recordPath: %s/%%path/%%Y-%%m-%%d_%%H-%%M-%%S-%%f
    recordFormat: fmp4
`, url, rec))
	recv(t, plays, "PLAY from MediaMTX")
	m.WaitLog(t, regexp.MustCompile(`\[path garden\] \[recorder\] creating segment`))
	stopAt.set(sentN.get() + 3*afterPlay)
	<-done
	sent := sentN.get()
	s.Close() // MediaMTX's source ends: it finishes the segment
	m.Stop()
	files, _ := filepath.Glob(filepath.Join(rec, "garden", "*.mp4"))
	if len(files) == 0 {
		t.Fatalf("MediaMTX recorded nothing under %s", rec)
	}
	var pts []int64
	for _, f := range files {
		out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "packet=pts_time", "-of", "compact", f).CombinedOutput()
		if err != nil {
			t.Fatalf("ffprobe %s: %v\n%s", f, err, out)
		}
		for _, m := range ffPTSTimeRE.FindAllStringSubmatch(string(out), -1) {
			sec, _ := strconv.ParseFloat(m[1], 64)
			pts = append(pts, int64(sec*clipRate+0.5))
		}
	}
	// MediaMTX keeps times as durations and writes them in the MP4's
	// time base: one tick (11 µs) of rounding either way.
	checkRunWithin(t, fmt.Sprintf("MediaMTX recording (%d files)", len(files)), pts, sent, 1)
}

type atomicInt struct {
	mu sync.Mutex
	v  int
}

func (a *atomicInt) get() int  { a.mu.Lock(); defer a.mu.Unlock(); return a.v }
func (a *atomicInt) set(v int) { a.mu.Lock(); a.v = v; a.mu.Unlock() }
