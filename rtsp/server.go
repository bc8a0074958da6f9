// Package rtsp makes camwire cameras reachable by the RTSP world: NVRs
// (Frigate, Home Assistant, ZoneMinder, Blue Iris), players and MediaMTX.
// Server serves every camera at rtsp://HOST:PORT/NAME; Publisher pushes
// each camera into an RTSP server that takes ANNOUNCE/RECORD.
//
// Both are fed by recv.Server's OnFrame hook and both stand apart from
// the recording: frames wait in a bounded queue per consumer, and a
// consumer that falls behind loses frames (until the next keyframe), never
// slows the receiver or another consumer. The RTSP protocol itself, RTCP
// sender reports and the UDP and TCP transports are gortsplib's.
package rtsp

import (
	"cmp"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/bluenviron/gortsplib/v5/pkg/description"

	"github.com/camwire/camwire/internal/hostport"
	"github.com/camwire/camwire/wire"
)

// Server serves every camera that sends framed streams at
// rtsp://Addr/NAME. A camera appears at its first keyframe (its SPS and
// PPS go into the SDP) and stays while the receiver runs, so readers
// keep their session across a camera's reconnects.
type Server struct {
	Addr    string // RTSP over TCP, e.g. ":8554"
	UDPAddr string // even RTP port for the UDP transport, RTCP on the next; "" serves TCP only
	Clock   Clock  // capture wall-clock time; nil: the arrival of each run's first frame plus capture offsets
	Logger  *slog.Logger
	// Key, if set, is the password readers must give (user User) to
	// DESCRIBE or SETUP; camwire-recv sets it beyond loopback with -key.
	Key []byte
	// OnReady, if set, is called once per camera when it is first
	// served, with its URL (for the console and the live page).
	OnReady func(camera, url string)

	onPlay      func() // tests: a reader sent PLAY
	readerQueue int    // tests: packets queued per reader; 0 means 512

	srv     *gortsplib.Server
	log     *slog.Logger
	mu      sync.Mutex
	cameras map[string]*served
	closed  bool
	wg      sync.WaitGroup
}

// served is one camera on the server.
type served struct {
	q      *queue
	track  *track
	mu     sync.Mutex
	stream *gortsplib.ServerStream // nil until the first SPS/PPS
}

// Start listens; Frame may be called from then on.
func (s *Server) Start() error {
	s.log = s.Logger
	if s.log == nil {
		s.log = slog.Default()
	}
	s.cameras = map[string]*served{}
	s.srv = &gortsplib.Server{
		Handler:     (*handler)(s),
		RTSPAddress: s.Addr,
		// Packets per reader (a keyframe can be a hundred): a reader
		// whose queue is full loses packets; nobody else waits.
		WriteQueueSize: cmp.Or(s.readerQueue, 512),
	}
	if s.UDPAddr != "" {
		rtcp, err := nextPort(s.UDPAddr)
		if err != nil {
			return fmt.Errorf("RTSP UDP address %q: %w", s.UDPAddr, err)
		}
		s.srv.UDPRTPAddress, s.srv.UDPRTCPAddress = s.UDPAddr, rtcp
	}
	if err := s.srv.Start(); err != nil {
		return fmt.Errorf("RTSP server: %w", err)
	}
	return nil
}

// ListenAddr is the RTSP TCP address in use (Addr may have port 0).
func (s *Server) ListenAddr() net.Addr { return s.srv.NetListener().Addr() }

// nextPort is addr with its port plus one: the RTCP port beside RTP.
func nextPort(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	var p int
	if _, err := fmt.Sscan(port, &p); err != nil || p <= 0 || p >= 65535 || p%2 != 0 {
		return "", fmt.Errorf("RTP port %q must be an even number below 65535 (RTCP takes the next)", port)
	}
	return net.JoinHostPort(host, fmt.Sprint(p+1)), nil
}

// Frame is recv.Server's OnFrame hook: it queues a copy of f for the
// camera's RTSP stream and returns at once.
func (s *Server) Frame(camera string, h wire.Hello, f wire.Frame) {
	now := time.Now()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	c := s.cameras[camera]
	if c == nil {
		tr, err := newTrack(camera, s.Clock)
		if err != nil {
			s.mu.Unlock()
			s.log.Error("RTSP: camera not served", "camera", camera, "err", err)
			return
		}
		c = &served{q: newQueue(), track: tr}
		s.cameras[camera] = c
		s.wg.Add(1)
		go s.feed(camera, c)
	}
	c.q.put(h, f, now) // under mu: Close closes the queue
	s.mu.Unlock()
}

// feed writes camera's queued frames to its stream until Close.
func (s *Server) feed(camera string, c *served) {
	defer s.wg.Done()
	for fr := range c.q.c {
		pkts, ntp, changed, err := c.track.packets(fr)
		if err != nil {
			s.log.Warn("RTSP: frame not served", "camera", camera, "err", err)
			continue
		}
		c.mu.Lock()
		if c.stream == nil && c.track.params() {
			st := &gortsplib.ServerStream{Server: s.srv, Desc: &description.Session{Medias: []*description.Media{c.track.media}}}
			if err := st.Initialize(); err != nil {
				c.mu.Unlock()
				s.log.Error("RTSP: camera not served", "camera", camera, "err", err)
				continue
			}
			c.stream = st
			url := "rtsp://" + hostport.Browsable(s.ListenAddr()) + "/" + camera
			s.log.Info("RTSP: serving camera", "url", url)
			if s.OnReady != nil {
				s.OnReady(camera, url)
			}
		} else if changed && c.stream != nil {
			c.stream.ReloadDesc() // new SPS/PPS for the next DESCRIBE
		}
		st := c.stream
		c.mu.Unlock()
		if st == nil {
			continue // no SPS/PPS yet: nothing a reader could decode
		}
		for _, p := range pkts {
			// Errors here are per reader (its queue is full: it
			// loses this packet) and are reported by the handler.
			st.WritePacketRTPWithNTP(c.track.media, p, ntp)
		}
	}
}

// Dropped is how many of camera's frames readers missed because the
// server's own queue was full (a reader's full queue loses packets in
// gortsplib and is logged per session).
func (s *Server) Dropped(camera string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.cameras[camera]; c != nil {
		return c.q.dropped.Load()
	}
	return 0
}

// Close disconnects every reader and stops the server.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for _, c := range s.cameras {
		close(c.q.c)
	}
	s.mu.Unlock()
	s.wg.Wait()
	for _, c := range s.cameras {
		if c.stream != nil {
			c.stream.Close()
		}
	}
	s.srv.Close()
}

func (s *Server) stream(path string) *gortsplib.ServerStream {
	name := strings.Trim(path, "/")
	s.mu.Lock()
	c := s.cameras[name]
	s.mu.Unlock()
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stream
}

// handler answers gortsplib's requests for Server.
type handler Server

func (h *handler) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if res, err := h.authorize(ctx.Conn, ctx.Request); res != nil {
		return res, nil, err
	}
	return h.find(ctx.Path)
}

func (h *handler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if res, err := h.authorize(ctx.Conn, ctx.Request); res != nil {
		return res, nil, err
	}
	return h.find(ctx.Path)
}

func (h *handler) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	if h.onPlay != nil {
		h.onPlay()
	}
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (h *handler) find(path string) (*base.Response, *gortsplib.ServerStream, error) {
	if st := (*Server)(h).stream(path); st != nil {
		return &base.Response{StatusCode: base.StatusOK}, st, nil
	}
	return &base.Response{StatusCode: base.StatusNotFound}, nil,
		fmt.Errorf("no camera %q here yet (a camera appears with its first keyframe)", strings.Trim(path, "/"))
}

func (h *handler) OnStreamWriteError(ctx *gortsplib.ServerHandlerOnStreamWriteErrorCtx) {
	h.log.Debug("RTSP reader loses packets", "err", ctx.Error)
}

func (h *handler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	h.log.Debug("RTSP reader left", "err", ctx.Error)
}
