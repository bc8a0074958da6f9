package main

// The receiver as a bridge to the systems people grow into: every camera
// as RTSP (-rtsp) for NVRs and MediaMTX, pushed into an RTSP server
// (-publish), and finished recordings into S3 (-upload).

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/camwire/camwire/internal/hostport"
	"github.com/camwire/camwire/live"
	"github.com/camwire/camwire/recv"
	"github.com/camwire/camwire/rtsp"
	"github.com/camwire/camwire/upload"
	"github.com/camwire/camwire/wire"
)

type scaleOutFlags struct {
	rtsp, rtspUDP string
	publish       string
	upload        upload.Config
	uploadLimit   string
}

// scaleOut is what of -rtsp, -publish and -upload is running.
type scaleOut struct {
	rtsp *rtsp.Server
	pub  *rtsp.Publisher
	up   *upload.Uploader
}

// startScaleOut starts the parts f asks for and hooks them to srv.
func startScaleOut(ctx context.Context, f scaleOutFlags, srv *recv.Server, log *slog.Logger) (*scaleOut, error) {
	out := &scaleOut{}
	if f.rtsp != "" {
		rs, err := serveRTSP(f.rtsp, f.rtspUDP, srv, log)
		if err != nil {
			return nil, fmt.Errorf("-rtsp: %w", err)
		}
		out.rtsp = rs
	}
	if f.publish != "" {
		if !strings.HasPrefix(f.publish, "rtsp://") && !strings.HasPrefix(f.publish, "rtsps://") {
			out.close()
			return nil, fmt.Errorf("-publish %q: want rtsp://SERVER:PORT/{name}", f.publish)
		}
		out.pub = &rtsp.Publisher{URL: f.publish, Logger: log, Clock: captureClock(srv)}
		addFrameHook(srv, out.pub.Frame)
		if !strings.Contains(f.publish, "{name}") {
			log.Warn("-publish has no {name}: every camera is pushed to the same path, each replacing the other", "url", f.publish)
		}
	}
	if f.upload.URL != "" {
		if f.uploadLimit != "" {
			n, err := upload.ParseRate(f.uploadLimit)
			if err != nil {
				out.close()
				return nil, fmt.Errorf("-upload-limit: %w", err)
			}
			f.upload.Limit = n
		}
		out.up = &upload.Uploader{Dir: srv.Dir, Config: f.upload, Logger: log}
		if err := out.up.Start(ctx); err != nil {
			out.close()
			return nil, fmt.Errorf("-upload: %w", err)
		}
		prev := srv.OnFile
		srv.OnFile = func(camera, path string) {
			if prev != nil {
				prev(camera, path)
			}
			out.up.Finished(camera, path)
		}
	}
	return out, nil
}

func (o *scaleOut) close() {
	if o.pub != nil {
		o.pub.Close()
	}
	if o.rtsp != nil {
		o.rtsp.Close()
	}
	if o.up != nil {
		o.up.Close()
	}
}

// publishState is the camera's -publish state, "" without -publish.
func (o *scaleOut) publishState(camera string) (rtsp.PublishState, bool) {
	if o.pub == nil {
		return rtsp.PublishState{}, false
	}
	return o.pub.State(camera)
}

// consoleExtra is the console's addition to a camera's line.
func (o *scaleOut) consoleExtra(camera string) string {
	var parts []string
	if st, ok := o.publishState(camera); ok {
		parts = append(parts, st.String())
	}
	if o.up != nil {
		pending, done, err := o.up.State(camera)
		s := fmt.Sprintf("upload %d done %d pending", done, pending)
		if err != "" {
			s += " (retrying: " + err + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "  ")
}

// liveExtra is the live page's "more" row for a camera.
func (o *scaleOut) liveExtra(camera string) any {
	m := map[string]any{}
	if o.rtsp != nil {
		m["rtsp"] = "rtsp://" + hostport.Browsable(o.rtsp.ListenAddr()) + "/" + camera
	}
	if st, ok := o.publishState(camera); ok {
		m["publish"] = st
	}
	if o.up != nil {
		pending, done, err := o.up.State(camera)
		m["upload"] = map[string]any{"pending": pending, "done": done, "error": err}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// addFrameHook makes srv's OnFrame also call f: the live view, the RTSP
// server and each publisher are all fed from the one hook.
func addFrameHook(srv *recv.Server, f func(string, wire.Hello, wire.Frame)) {
	prev := srv.OnFrame
	if prev == nil {
		srv.OnFrame = f
		return
	}
	srv.OnFrame = func(camera string, h wire.Hello, fr wire.Frame) {
		prev(camera, h, fr)
		f(camera, h, fr)
	}
}

// rtspUDP is the -rtsp-udp default: the RTP port pair just above the
// RTSP port (8554 → 8556/8557), so several receivers or a MediaMTX
// (8000/8001) on one machine do not collide.
func rtspUDP(rtspAddr, flag string) (string, error) {
	switch flag {
	case "off":
		return "", nil
	case "":
	default:
		return flag, nil
	}
	host, port, err := net.SplitHostPort(rtspAddr)
	if err != nil {
		return "", fmt.Errorf("-rtsp %q: %w", rtspAddr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return "", fmt.Errorf("-rtsp %q: port is not a number", rtspAddr)
	}
	if p == 0 {
		return "", nil // an ephemeral RTSP port has no fixed neighbour: TCP only
	}
	rtp := (p + 2) &^ 1
	if rtp+1 > 65535 {
		return "", fmt.Errorf("-rtsp %q: no UDP port pair above it; set -rtsp-udp", rtspAddr)
	}
	return net.JoinHostPort(host, strconv.Itoa(rtp)), nil
}

// captureClock stamps RTCP sender reports with the receiver's mapping of
// each camera's capture clock (recv.Server.CaptureTime); zero for a
// camera that sends no clock samples, which makes rtsp fall back to the
// arrival of its first frame.
func captureClock(srv *recv.Server) rtsp.Clock {
	return func(camera string, h wire.Hello, timeUS int64, _ time.Time) time.Time {
		t, _ := srv.CaptureTime(camera, h.StreamID, timeUS)
		return t
	}
}

// serveRTSP starts the RTSP server on addr fed by srv. Raw (nc) streams
// are not served: recv stores them byte for byte without splitting them
// into frames, and they carry no capture times an RTSP reader needs.
func serveRTSP(addr, udpFlag string, srv *recv.Server, log *slog.Logger) (*rtsp.Server, error) {
	udp, err := rtspUDP(addr, udpFlag)
	if err != nil {
		return nil, err
	}
	rs := &rtsp.Server{Addr: addr, UDPAddr: udp, Logger: log, Clock: captureClock(srv)}
	// Beyond loopback with -key, readers give the key (user camwire).
	if host, _, err := net.SplitHostPort(addr); err == nil && srv.Key != nil {
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			rs.Key = srv.Key
		}
	}
	if err := rs.Start(); err != nil {
		return nil, err
	}
	addFrameHook(srv, rs.Frame)
	transports := "TCP"
	if udp != "" {
		transports = "TCP and UDP (RTP " + udp + ")"
	}
	access := "anyone who can reach it"
	switch {
	case rs.Key != nil:
		access = "readers with the key: rtsp://" + rtsp.User + ":KEY@HOST/NAME"
	case live.Loopback(rs.ListenAddr()):
		access = "this machine only (loopback)"
	}
	log.Info("RTSP server", "url", "rtsp://"+hostport.Browsable(rs.ListenAddr())+"/NAME", "transports", transports, "open_to", access,
		"note", "camwire cameras only: raw (nc) streams are stored byte for byte, without frames or capture times to serve")
	return rs, nil
}
