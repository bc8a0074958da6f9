package main

// The receiver as a bridge to the systems people grow into: every camera
// as RTSP (-rtsp) for NVRs and MediaMTX.

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"github.com/camwire/camwire/recv"
	"github.com/camwire/camwire/rtsp"
	"github.com/camwire/camwire/wire"
)

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

// serveRTSP starts the RTSP server on addr fed by srv. Raw (nc) streams
// are not served: recv stores them byte for byte without splitting them
// into frames, and they carry no capture times an RTSP reader needs.
func serveRTSP(addr, udpFlag string, srv *recv.Server, log *slog.Logger) (*rtsp.Server, error) {
	udp, err := rtspUDP(addr, udpFlag)
	if err != nil {
		return nil, err
	}
	rs := &rtsp.Server{Addr: addr, UDPAddr: udp, Logger: log}
	if err := rs.Start(); err != nil {
		return nil, err
	}
	addFrameHook(srv, rs.Frame)
	transports := "TCP"
	if udp != "" {
		transports = "TCP and UDP (RTP " + udp + ")"
	}
	log.Info("RTSP server", "url", "rtsp://"+browsable(rs.ListenAddr())+"/NAME", "transports", transports,
		"note", "camwire cameras only: raw (nc) streams are stored byte for byte, without frames or capture times to serve")
	return rs, nil
}
