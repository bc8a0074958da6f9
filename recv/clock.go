package recv

import (
	"fmt"
	"time"

	"github.com/camwire/camwire/clockmap"
	"github.com/camwire/camwire/wire"
)

// The capture clock's mapping (protocol 1.2, docs/PROTOCOL.md "Capture
// time"): the receiver pings a 1.2 sender in its Challenge and in every
// Ack, the sender answers each with a Clock, and each stream's
// clockmap.Estimator turns the round trips into wall-clock capture times.
// They name the files and stamp the MP4s, so a segment that was buffered
// through an outage or a receiver restart keeps the time it was captured.
//
// A ping's stamp is the receiver's clock in µs since the server started,
// plus one (0 means "no ping"): the receiver keeps no table of pings, and
// the stamp of a reply that was not ours (too new, or older than a
// minute) is refused.

// maxPingAge bounds how old a ping may be when its answer comes.
const maxPingAge = time.Minute

// now is the receiver's clock for capture times.
func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// ping is the stamp for a Challenge or an Ack to a 1.2 sender.
func (s *Server) ping() uint64 {
	return uint64(s.now().Sub(s.epoch).Microseconds()) + 1
}

// sample pairs a Clock read at time at with its ping's send time.
func (s *Server) sample(c wire.Clock, at time.Time) (clockmap.Sample, bool) {
	if c.Echo == 0 {
		return clockmap.Sample{}, false
	}
	sent := s.epoch.Add(time.Duration(c.Echo-1) * time.Microsecond)
	if sent.After(at) || at.Sub(sent) > maxPingAge {
		return clockmap.Sample{}, false
	}
	return clockmap.Sample{
		Sent: sent, Received: at,
		PingIn:   time.Duration(c.PingInUS) * time.Microsecond,
		ReplyOut: time.Duration(c.OutUS) * time.Microsecond,
	}, true
}

// CaptureTime maps a frame's capture time (wire.Frame.TimeUS) of the
// stream id recording into folder camera to the receiver's wall clock. It
// reports false for a stream that sent no clock samples (a sender older
// than protocol 1.2) or that the receiver does not know. The RTSP server
// stamps its sender reports with it.
func (s *Server) CaptureTime(camera string, id [wire.StreamIDLen]byte, timeUS int64) (time.Time, bool) {
	s.mu.Lock()
	st := s.streams[streamKey{camera, id}]
	s.mu.Unlock()
	if st == nil {
		return time.Time{}, false
	}
	return st.clock.Local(time.Duration(timeUS) * time.Microsecond)
}

// maxAhead is how far past the receiver's now a mapped capture time may
// be: a frame cannot be captured after it arrived, so a time beyond this
// comes from a camera clock that jumped, and arrival time is used.
const maxAhead = 2 * time.Second

// wall is the capture time of a frame of this session's stream for its
// file name and MP4 times: mapped by the stream's estimator, or the
// arrival time when the camera sends no clock samples.
func (ss *session) wall(timeUS int64) time.Time {
	now := ss.srv.now()
	t, ok := ss.st.clock.Local(time.Duration(timeUS) * time.Microsecond)
	if !ok {
		return now.UTC()
	}
	if t.After(now.Add(maxAhead)) {
		if !ss.warnedAhead {
			ss.warnedAhead = true
			ss.log.Warn("camera's capture clock maps to the future; naming by arrival time", "capture", t, "now", now)
		}
		return now.UTC()
	}
	return t
}

// frameTime is sink.SegmentInfo.Wall: the mapped capture time, false
// without clock samples.
func (ss *session) frameTime(timeUS int64) (time.Time, bool) {
	t, ok := ss.st.clock.Local(time.Duration(timeUS) * time.Microsecond)
	if !ok || t.After(ss.srv.now().Add(maxAhead)) {
		return time.Time{}, false
	}
	return t, true
}

// buffered logs, at the first frame of a connection, how far behind the
// camera is: when the receiver was away (cable, laptop asleep, restart)
// the camera kept the video, and its first frames are that old.
func (ss *session) buffered(f wire.Frame) {
	t, ok := ss.frameTime(f.TimeUS)
	if !ok {
		return
	}
	behind := ss.srv.now().Sub(t)
	if behind < 2*time.Second {
		return
	}
	var st Status
	ss.cc.st.update(func(s *Status) { st = *s })
	pct := 0.0
	if st.BufferSize > 0 {
		pct = 100 * float64(st.BufferUsed) / float64(st.BufferSize)
	}
	ss.log.Info("camera sends buffered video", "behind", behind.Round(time.Millisecond), "buffer_used", st.BufferUsed, "buffer_size", st.BufferSize,
		ConsoleKey, fmt.Sprintf("%s: camera buffer %.0f %% — laptop was away %.0f s", ss.hello.Name, pct, behind.Seconds()))
}
