package main

// The receiver's optional parts, wired to recv.Server's hooks by run.

import (
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"time"

	"github.com/camwire/camwire/internal/hostport"
	"github.com/camwire/camwire/live"
	"github.com/camwire/camwire/mp4"
	"github.com/camwire/camwire/recv"
	"github.com/camwire/camwire/wire"
)

// rate is the -fps flag: a positive frame rate as an integer, a decimal
// or a fraction (30, 29.97, 30000/1001), kept exact as wire.Hello keeps it.
type rate struct{ num, den uint32 }

func (r *rate) String() string {
	if r == nil || r.num == 0 {
		return ""
	}
	if r.den == 1 {
		return fmt.Sprint(r.num)
	}
	return fmt.Sprintf("%d/%d", r.num, r.den)
}

func (r *rate) Set(s string) error {
	q, ok := new(big.Rat).SetString(s)
	if !ok || q.Sign() <= 0 || q.Cmp(big.NewRat(1000, 1)) > 0 {
		return fmt.Errorf("%q is not a frame rate in (0, 1000], e.g. 30 or 30000/1001", s)
	}
	if !q.Num().IsUint64() || q.Num().Uint64() > 1<<32-1 || q.Denom().Uint64() > 1<<32-1 {
		return fmt.Errorf("%q is too precise; use a fraction like 30000/1001", s)
	}
	r.num, r.den = uint32(q.Num().Uint64()), uint32(q.Denom().Uint64())
	return nil
}

// remuxRaw writes the MP4 beside a finished raw recording. The .h264
// stays whatever happens: a received byte is never deleted.
func remuxRaw(log *slog.Logger, path string, r rate) {
	dst, frames, skipped, err := mp4.RemuxFile(path, wire.Hello{Codec: "h264", FPSNum: r.num, FPSDen: r.den})
	if err != nil {
		log.Error("raw stream: MP4 not written; the .h264 is complete", "file", path, "err", err)
		return
	}
	attrs := []any{"file", dst, "frames", frames, "fps", r.String()}
	if skipped > 0 {
		// Frames before the first keyframe cannot be decoded; the .mp4
		// keeps their bytes in 'free' boxes and the .h264 has them too.
		attrs = append(attrs, "undecodable_frames_kept_raw", skipped)
	}
	log.Info("raw stream remuxed to MP4", attrs...)
}

// serveLive starts the live view on addr, fed with every framed frame
// srv receives. The returned stop disconnects viewers and closes it.
// Beyond loopback with a key, every request must prove the key
// (live.RequireKey).
func serveLive(ctx context.Context, addr string, srv *recv.Server, extra func(camera string) any, log *slog.Logger) (stop func(), err error) {
	addr, err = live.ListenAddr(addr)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	lv := live.New(srv.Dir, func(camera string) (live.CameraStatus, bool) {
		st, ok := srv.CameraStatus(camera)
		if !ok {
			return live.CameraStatus{}, false
		}
		ls := liveStatus(st)
		ls.Extra = extra(camera)
		return ls, true
	})
	lv.Logf = func(format string, args ...any) { log.Warn(fmt.Sprintf(format, args...)) }
	addFrameHook(srv, lv.Publish)
	var h http.Handler = lv
	access := "this machine only (loopback); give a host, e.g. -live 0.0.0.0:PORT, to share it"
	switch {
	case live.Loopback(ln.Addr()):
	case srv.Key != nil:
		h = live.RequireKey(lv, srv.Key)
		access = "the network, with the key (-key) as the password"
	default:
		access = "anyone on the network: no -key is set"
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	go hs.Serve(ln)
	log.Info("live view", "url", "http://"+hostport.Browsable(ln.Addr())+"/", "stream", "http://"+hostport.Browsable(ln.Addr())+"/cam/NAME/stream.mp4", "open_to", access)
	return func() {
		lv.Close() // ends every stream response, so Shutdown need not wait for them
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if hs.Shutdown(sctx) != nil {
			hs.Close()
		}
	}, nil
}

// liveStatus is the receiver's status of a camera in the live page's terms.
func liveStatus(st recv.Status) live.CameraStatus {
	out := live.CameraStatus{
		Connected:   true,
		Remote:      st.Peer,
		Since:       st.Since,
		Bytes:       st.Bytes,
		Files:       st.Files,
		BufferUsed:  st.BufferUsed,
		BufferSize:  st.BufferSize,
		LastAck:     st.LastAck,
		LastAckTime: st.LastAckTime,
		TempMilliC:  st.TempMilliC,
		Gaps:        st.Gaps,
	}
	if st.Error != "" {
		out.Errors = []string{st.Error}
	}
	return out
}
