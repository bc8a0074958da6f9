package rtsp

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/pion/rtp"

	"github.com/camwire/camwire/wire"
)

// TestSenderReportsAndSlowReader: the RTCP sender reports map each
// frame's RTP time to its capture wall-clock time (the Clock's), and a
// reader that stops reading costs another reader nothing: the other still
// gets an unbroken run of frames with their capture times, and the
// camera's queue (the recording side) never drops a frame.
func TestSenderReportsAndSlowReader(t *testing.T) {
	base0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	clock := func(camera string, h wire.Hello, timeUS int64, arrived time.Time) time.Time {
		return base0.Add(time.Duration(timeUS) * time.Microsecond)
	}
	s, ready, plays := startServer(t, clock)
	s.readerQueue = 64
	c := newCam(t, "porch")
	s.Frame(c.hello.Name, c.hello, c.frame(0))
	url := recv(t, ready, "camera served")

	// The slow reader: a 4 KiB socket buffer and a callback that blocks
	// until the test ends.
	unblock := make(chan struct{})
	var slowMu sync.Mutex
	slowFrames := 0
	slow := play(t, url, func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			conn.(*net.TCPConn).SetReadBuffer(4096)
		}
		return conn, err
	}, func(cl *gortsplib.Client, medi *description.Media, pkt *rtp.Packet) {
		if pkt.Marker {
			slowMu.Lock()
			slowFrames++
			slowMu.Unlock()
		}
		<-unblock
	})
	recv(t, plays, "PLAY from the slow reader")

	type got struct {
		ts  uint32
		ntp time.Time
	}
	var mu sync.Mutex
	var frames []got
	fast := play(t, url, nil, func(cl *gortsplib.Client, medi *description.Media, pkt *rtp.Packet) {
		if !pkt.Marker {
			return
		}
		ntp, ok := cl.PacketNTP(medi, pkt)
		if !ok {
			return // before the first sender report
		}
		mu.Lock()
		frames = append(frames, got{pkt.Timestamp, ntp})
		mu.Unlock()
	})
	recv(t, plays, "PLAY from the fast reader")
	c.play(s.Frame, 1, 1+4*afterPlay)
	sent := 1 + 4*afterPlay
	s.Close()
	close(unblock)
	fast.Close()
	slow.Close()

	mu.Lock()
	defer mu.Unlock()
	var pts []int64
	for i, f := range frames {
		pts = append(pts, int64(f.ts-frames[0].ts))
		// The NTP time must name one frame's capture time.
		us := f.ntp.Sub(base0).Microseconds()
		n := int((us - origin) * clipFPS / 1e6)
		best := captureUS(n)
		for _, m := range []int{n - 1, n + 1} {
			if m >= 0 && abs(captureUS(m)-us) < abs(best-us) {
				best = captureUS(m)
			}
		}
		if d := abs(best - us); d > 100 {
			t.Errorf("frame %d: NTP %v is %d µs from the nearest capture time", i, f.ntp, d)
		}
	}
	checkRun(t, "fast reader beside a stuck one", pts, sent)
	if d := s.Dropped("porch"); d != 0 {
		t.Errorf("camera queue dropped %d frames; the stuck reader must cost only itself", d)
	}
	slowMu.Lock()
	t.Logf("stuck reader: %d frames before it stopped reading; fast reader: %d of %d", slowFrames, len(frames), sent)
	slowMu.Unlock()
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// play starts a gortsplib reader on url over TCP with onPacket per RTP
// packet.
func play(t *testing.T, url string, dial func(context.Context, string, string) (net.Conn, error),
	onPacket func(*gortsplib.Client, *description.Media, *rtp.Packet)) *gortsplib.Client {
	t.Helper()
	u, err := base.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	tcp := gortsplib.ProtocolTCP
	cl := &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Protocol: &tcp, DialContext: dial}
	if err := cl.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	desc, _, err := cl.Describe(u)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.SetupAll(desc.BaseURL, desc.Medias); err != nil {
		t.Fatal(err)
	}
	cl.OnPacketRTPAny(func(medi *description.Media, _ format.Format, pkt *rtp.Packet) { onPacket(cl, medi, pkt) })
	if _, err := cl.Play(nil); err != nil {
		t.Fatal(err)
	}
	return cl
}
