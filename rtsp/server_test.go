package rtsp

import (
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// afterPlay is how many frames the camera sends once a reader has sent
// PLAY: three seconds.
const afterPlay = 3 * clipFPS

// readWith serves camera "garden", starts a reader on its URL, keeps the
// camera sending until afterPlay frames after the reader's PLAY, then
// closes the server (the reader sees the end of the stream). It returns
// the reader's output and how many frames were sent.
func readWith(t *testing.T, start func(url string) *tool) (string, int) {
	t.Helper()
	s, ready, plays := startServer(t, nil)
	c := newCam(t, "garden")
	s.Frame(c.hello.Name, c.hello, c.frame(0))
	url := recv(t, ready, "camera served")

	var stopAt, sentN atomic.Int64
	stopAt.Store(1 << 62)
	sentN.Store(1)
	done := make(chan int)
	go func() {
		tick := time.NewTicker(time.Second / clipFPS)
		defer tick.Stop()
		n := 1
		for ; int64(n) < stopAt.Load(); n++ {
			<-tick.C
			s.Frame(c.hello.Name, c.hello, c.frame(n))
			sentN.Store(int64(n + 1))
		}
		done <- n
	}()
	tl := start(url)
	recv(t, plays, "PLAY from the reader")
	// Frames sent from now on reach the reader: the server is a frame
	// ahead at most, and the reader is checked for an unbroken run that
	// ends with the last frame, wherever it began.
	stopAt.Store(sentN.Load() + afterPlay)
	sent := <-done
	s.Close()
	out, _ := tl.wait(t)
	return out, sent
}

// rtpTicks is frame n's RTP time relative to frame 0.
func rtpTicks(n int) int64 { return (captureUS(n) - origin) * clipRate / 1e6 }

const clipRate = 90000

// checkRun checks that pts (90 kHz) are an unbroken run of frames, each
// at its capture time, ending with the camera's last frame or one of the
// two before: the server's Close may cut the last one in flight, and a
// recorder writes a frame only when the next one gives its duration.
func checkRun(t *testing.T, reader string, pts []int64, sent int) {
	t.Helper()
	checkRunWithin(t, reader, pts, sent, 0)
}

// checkRunWithin is checkRun allowing each time to be tol ticks off (a
// recorder that converts timestamps through another time base rounds).
func checkRunWithin(t *testing.T, reader string, pts []int64, sent int, tol int64) {
	t.Helper()
	// A reader's session starts just after its PLAY is answered, and
	// a player may skip to the first keyframe: allow a GOP (1 s) for it.
	if len(pts) < afterPlay-clipFPS {
		t.Fatalf("%s got %d frames; want at least %d of the %d sent after its PLAY", reader, len(pts), afterPlay-clipFPS, afterPlay)
	}
	var got []int64
	for _, p := range pts {
		got = append(got, p-pts[0])
	}
	var diff string
	for _, last := range []int{sent - 1, sent - 2, sent - 3} {
		first := last + 1 - len(pts)
		var want []int64
		for i := range pts {
			want = append(want, rtpTicks(first+i)-rtpTicks(first))
		}
		if diff = cmp.Diff(want, got, cmp.Comparer(func(a, b int64) bool { return abs(a-b) <= tol })); diff == "" {
			t.Logf("%s: %d frames, frames %d..%d of the camera's %d, times = capture times", reader, len(pts), first, last, sent)
			return
		}
	}
	t.Errorf("%s: %d frame times (90 kHz from its first) are not an unbroken run of capture times ending with frame %d of %d (-want +got, for the earliest end tried):\n%s", reader, len(pts), sent-3, sent, diff)
}

var (
	ffPacketRE = regexp.MustCompile(`(?m)^packet\|pts=(-?\d+)\|flags=(\S+)$`)
	ffStreamRE = regexp.MustCompile(`(?m)^stream\|codec_name=(\w+)\|width=(\d+)\|height=(\d+)`)
)

// TestFFprobe: ffprobe reads a camera over RTSP with TCP and with UDP
// transport: H.264 640x360 from the SDP, every frame sent after it
// joined, each at its capture time.
func TestFFprobe(t *testing.T) {
	for _, transport := range []string{"tcp", "udp"} {
		t.Run(transport, func(t *testing.T) {
			out, sent := readWith(t, func(url string) *tool {
				return startTool(t, "ffprobe", "-v", "error", "-rtsp_transport", transport,
					"-show_entries", "packet=pts,flags:stream=codec_name,width,height", "-of", "compact", url)
			})
			st := ffStreamRE.FindStringSubmatch(out)
			if diff := cmp.Diff([]string{"h264", "640", "360"}, st[1:]); st == nil || diff != "" {
				t.Fatalf("ffprobe stream (-want +got):\n%s\noutput:\n%s", diff, tail(out))
			}
			var pts []int64
			for _, m := range ffPacketRE.FindAllStringSubmatch(out, -1) {
				p, _ := strconv.ParseInt(m[1], 10, 64)
				pts = append(pts, p)
			}
			checkRun(t, "ffprobe over "+transport, pts, sent)
		})
	}
}

var gstPTSRE = regexp.MustCompile(`chain .*? pts: (\d+):(\d+):(\d+)\.(\d+),`)

// TestGStreamer: GStreamer's rtspsrc, a second and independent RTSP
// client, reads the same camera over TCP and UDP.
func TestGStreamer(t *testing.T) {
	for _, transport := range []string{"tcp", "udp"} {
		t.Run(transport, func(t *testing.T) {
			out, sent := readWith(t, func(url string) *tool {
				return startTool(t, "gst-launch-1.0", "-v", "rtspsrc", "location="+url, "protocols="+transport, "latency=0", "buffer-mode=none",
					"!", "rtph264depay", "!", "h264parse", "!", "fakesink", "silent=false", "sync=false")
			})
			if !strings.Contains(out, "video/x-h264") {
				t.Fatalf("gst-launch: no H.264 caps in its output:\n%s", tail(out))
			}
			var pts []int64
			for _, m := range gstPTSRE.FindAllStringSubmatch(out, -1) {
				h, _ := strconv.ParseInt(m[1], 10, 64)
				mi, _ := strconv.ParseInt(m[2], 10, 64)
				sec, _ := strconv.ParseInt(m[3], 10, 64)
				ns, _ := strconv.ParseInt(m[4], 10, 64)
				total := ((h*60+mi)*60+sec)*1e9 + ns
				pts = append(pts, (total*clipRate+5e8)/1e9)
			}
			checkRun(t, "GStreamer rtspsrc over "+transport, pts, sent)
		})
	}
}

func tail(s string) string {
	if len(s) > 3000 {
		return "…" + s[len(s)-3000:]
	}
	return s
}
