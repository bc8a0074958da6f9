package rtsp

import (
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/camwire/camwire/internal/peers"
	"github.com/camwire/camwire/internal/testkit"
)

// readFrames has ffmpeg read n frames from url over TCP and returns how
// many it got.
func readFrames(t *testing.T, url string, n int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostats", "-rtsp_transport", "tcp",
		"-i", url, "-frames:v", itoa(n), "-c", "copy", "-f", "null", "-").CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg reading %s: %v\n%s", url, err, tail(string(out)))
	}
	m := regexp.MustCompile(`frame=\s*(\d+)`).FindAllStringSubmatch(string(out), -1)
	if m == nil {
		t.Fatalf("ffmpeg reading %s printed no frame count:\n%s", url, tail(string(out)))
	}
	return m[len(m)-1][1]
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestPublishToMediaMTX: -publish pushes a camera into a real MediaMTX
// with ANNOUNCE/RECORD and a reader of MediaMTX gets its frames. The
// publisher starts before MediaMTX is up and reconnects when MediaMTX
// restarts, its state saying so each time.
func TestPublishToMediaMTX(t *testing.T) {
	peers.Path(t, "mediamtx")
	addr := testkit.TCPAddr(t)
	connected := make(chan PublishState, 10)
	p := &Publisher{URL: "rtsp://" + addr + "/{name}", MinRetry: 100 * time.Millisecond, MaxRetry: 500 * time.Millisecond,
		onState: func(st PublishState) {
			if st.Connected {
				connected <- st
			}
		}}
	t.Cleanup(p.Close)
	c := newCam(t, "porch")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second / clipFPS)
		defer tick.Stop()
		for n := 0; ; n++ {
			p.Frame(c.hello.Name, c.hello, c.frame(n))
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })

	// Nobody listens yet: the push fails and says so.
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, ok := p.State("porch")
		if ok && st.Err != "" {
			t.Logf("before MediaMTX: %s", st)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("publisher state %+v: want an error while nothing listens on %s", st, addr)
		}
		time.Sleep(50 * time.Millisecond) // polls a state that has no event of its own
	}

	paths := "  all_others:\n"
	for round := 1; round <= 2; round++ {
		m := peers.StartMediaMTX(t, addr, paths)
		st := recv(t, connected, "publisher connected")
		m.WaitLog(t, regexp.MustCompile(`\[path porch\] stream is available and online`))
		if got := readFrames(t, "rtsp://"+addr+"/porch", 60); got != "60" {
			t.Errorf("round %d: a reader of MediaMTX got %s frames, want 60", round, got)
		}
		t.Logf("round %d: %s since %s; a reader of MediaMTX got 60 frames", round, st, st.Since.Format(time.TimeOnly))
		m.Stop()
	}
}
