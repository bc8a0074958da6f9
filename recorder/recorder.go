// Package recorder is the camera's one long-running job: capture →
// segment → sender. It runs the same as PID 1's supervised child on the
// Pi, as a service on Raspberry Pi OS and as a plain process in tests;
// nothing in it knows about PID 1.
//
// Lines it prints on its output (Recorder.Out, stdout) are the
// console contract of package camconsole, which PID 1 (the LED), the
// demo and the QEMU tests read back:
//
//	camwire: init start                              (first, unless PID 1 already printed it)
//	camwire: recorder start name=N stream=UUID source=S receiver=H:P segment=3s
//	camwire: config: camwire.txt:4: fps: …          (one per config problem; also sent to the receiver)
//	camwire: state no-receiver|recording|error       (on every change; PID 1 drives the LED from it)
//	camwire: camera: no camera driver bound: …       (the V4L2 device is missing, and why; state error until it appears)
//	camwire: first frame sent after 123ms            (since the recorder started)
//	camwire: first frame acked after 456ms
//	captured=N sent=N acked=N dropped=N              (exactly once, last, after the drain)
//
// captured counts every access unit the camera gave; dropped counts
// those that never reached the wire: lost to a full buffer (reported to
// the receiver as a Gap) or before the first keyframe (undecodable).
// After a clean drain acked+dropped == captured.
package recorder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camwire/camwire/bootreport"
	"github.com/camwire/camwire/camconsole"
	"github.com/camwire/camwire/capture"
	"github.com/camwire/camwire/config"
	"github.com/camwire/camwire/segment"
	"github.com/camwire/camwire/sender"
	"github.com/camwire/camwire/wire"
	"github.com/google/uuid"
)

// Recorder captures, cuts and sends until its context ends or the camera
// fails for good. One shape for long-running parts: config fields, Run,
// an injected logger.
type Recorder struct {
	Config   config.Config
	Problems []config.Problem // from config.Load: printed and sent to the receiver
	// Source is the camera; nil makes one from Config (NewSource).
	Source capture.Source
	// Out receives the marker lines and the summary; nil means os.Stdout.
	Out    io.Writer
	Logger *slog.Logger // nil means slog.Default()
	// Announce prints "camwire: init start" first. PID 1 prints it itself
	// and starts the recorder with CAMWIRE_SUPERVISED set.
	Announce bool
	// DrainTimeout bounds the wait for the receiver's acknowledgements
	// when stopping; 0 means 10 s.
	DrainTimeout time.Duration
	// Dial replaces the sender's dialer (tests).
	Dial func(ctx context.Context, addr string) (net.Conn, error)
	// Hardware reads the machine for the boot report and for why a
	// missing camera is missing; the zero value reads /proc, /sys and
	// /dev. Tests point it at fake trees.
	Hardware bootreport.Gatherer
	// Network makes the recorder keep its link configured itself
	// (camwire-init -network, see keepNetwork).
	Network bool
	// ReportMark, if set, is a file that says this boot's report was
	// stored (see ReportMark the constant); "" sends it every run.
	ReportMark string

	start  time.Time
	notes  []string      // for the boot report; under mu
	mu     sync.Mutex    // serialises lines on Out
	failed atomic.Bool   // the camera is missing: the state is error
	poke   chan struct{} // capacity 1: failed changed, for watch
}

// Note adds a line to the boot report (an address claimed, a conflict).
func (r *Recorder) Note(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, line)
}

func (r *Recorder) printf(format string, args ...any) {
	r.println(fmt.Sprintf(format, args...))
}

// println prints one line of the console contract (package camconsole).
func (r *Recorder) println(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	io.WriteString(r.Out, line+"\n")
}

// NewSource makes the camera the settings name and returns the picture
// size it delivers (for the receiver's Hello).
func NewSource(c config.Config, log *slog.Logger) (capture.Source, int, int, error) {
	switch c.Source {
	case config.SourceTestsrc:
		return &capture.TestSource{FPS: float64(c.FPS)}, capture.ClipWidth, capture.ClipHeight, nil
	case config.SourceExec:
		argv := c.ExecArgs()
		if len(argv) == 0 {
			return nil, 0, 0, errors.New("exec source: empty command")
		}
		return &capture.Exec{Command: argv, Logger: log}, c.Width, c.Height, nil
	case config.SourceV4L2:
		return &capture.V4L2{
			Device: c.Device, Width: c.Width, Height: c.Height, FPS: c.FPS,
			Bitrate: c.Bitrate, IPeriod: c.Keyframes(),
			Rotation: c.Rotation, HFlip: c.HFlip, VFlip: c.VFlip,
			Logger: log,
		}, c.Width, c.Height, nil
	}
	return nil, 0, 0, fmt.Errorf("unknown source %q", c.Source)
}

// Run records until ctx ends, then stops the camera, closes the open
// segment, waits up to DrainTimeout for the receiver to acknowledge
// everything and prints the summary line. It returns nil after a stop by
// ctx, and the camera's error when the camera failed for good (the summary
// is printed then, too).
func (r *Recorder) Run(ctx context.Context) error {
	r.start = time.Now()
	r.poke = make(chan struct{}, 1)
	if r.Out == nil {
		r.Out = os.Stdout
	}
	log := r.Logger
	if log == nil {
		log = slog.Default()
	}
	if r.Announce {
		r.println(camconsole.InitStart)
	}
	c := r.Config
	src := r.Source
	w, h := c.Width, c.Height
	if src == nil {
		var err error
		if src, w, h, err = NewSource(c, log); err != nil {
			r.println(camconsole.StateError.Line())
			r.println(camconsole.Summary{}.Format())
			return err
		}
	}
	id := uuid.New()
	hello := wire.Hello{Name: c.Name, StreamID: id, Codec: "h264",
		Width: uint16(w), Height: uint16(h), FPSNum: uint32(c.FPS), FPSDen: 1}
	var key []byte
	if c.Key != "" {
		key = []byte(c.Key)
	}
	s, err := sender.New(sender.Config{Addr: c.Receiver, Hello: hello, Key: key,
		BufferBytes: int(c.Buffer), Logger: log, Dial: r.Dial, Report: r.bootReport(c)})
	if err != nil {
		r.println(camconsole.StateError.Line())
		r.println(camconsole.Summary{}.Format())
		return err
	}
	r.printf(camconsole.RecorderStart+"name=%s stream=%s source=%s receiver=%s segment=%v",
		c.Name, id, c.Source, c.Receiver, c.Segment)
	for _, p := range r.Problems {
		r.println(camconsole.ConfigLine(p.Error()))
		s.Log(wire.LevelWarn, "config: "+p.Error())
	}

	// The sender outlives ctx: after the camera stops it still has to
	// deliver what is buffered.
	sendCtx, stopSend := context.WithCancel(context.Background())
	netDone := make(chan struct{})
	go func() {
		defer close(netDone)
		if r.Network {
			r.keepNetwork(sendCtx, c, log) // until the sender is done with the link
		}
	}()
	sendDone := make(chan error, 1)
	go func() { sendDone <- s.Run(sendCtx) }()
	go redialOnNetwork(sendCtx, s.Redial, s.AddrGone, log)
	go r.markReport(sendCtx, s, log)
	watchCtx, stopWatch := context.WithCancel(context.Background())
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		r.watch(watchCtx, s)
	}()

	var seg = segment.Segmenter{Length: c.Segment}
	var beforeKey uint64 // AUs before the first keyframe: never sent
	capErr := r.capture(ctx, src, s, log, func(au segment.AU) {
		ended, n, out, ok := seg.Push(au)
		if ended != nil {
			s.EndSegment(ended.Segment, ended.Frames)
		}
		if !ok {
			beforeKey++
			return
		}
		s.FrameAU(n, out) // every Source hands over its AUs: no copy
	})
	if e := seg.Close(); e != nil {
		s.EndSegment(e.Segment, e.Frames)
	}
	if ctx.Err() != nil && errors.Is(capErr, ctx.Err()) {
		capErr = nil
	}
	if capErr != nil {
		log.Error("camera failed", "err", capErr)
		s.Log(wire.LevelError, "camera: "+capErr.Error())
	}

	drain := r.DrainTimeout
	if drain == 0 {
		drain = 10 * time.Second
	}
	dctx, cancel := context.WithTimeout(context.Background(), drain)
	if err := s.Drain(dctx); err != nil {
		cn := s.Counters()
		log.Warn("receiver did not acknowledge everything before the deadline",
			"deadline", drain, "unacked_frames", cn.Captured-cn.Acked-cn.Dropped)
	}
	cancel()
	stopWatch()
	<-watchDone
	stopSend()
	<-sendDone
	<-netDone
	if capErr != nil {
		r.println(camconsole.StateError.Line())
	}

	cn := s.Counters()
	r.println(camconsole.Summary{Captured: cn.Captured + beforeKey, Sent: cn.Sent,
		Acked: cn.Acked, Dropped: cn.Dropped + beforeKey}.Format())
	return capErr
}

// watch prints the first-frame markers and the state lines. It looks at
// the sender's counters whenever the sender says they changed (the first
// frame's lines time the boot, so they come at once), when the camera's
// error state changes (r.poke), when the stalled-acknowledgement rule
// could next turn the state (stallAfter past the last ack), and once
// more when stopped. A fixed 20 ms poll here used to cost as much CPU as
// sending the video; a 500 ms one still cost two wake-ups a second of
// the recorder and of the runtime's sysmon at camera pace, a twentieth
// of its wake-ups. Only a connected camera with nothing outstanding (it
// sends nothing: the next frame could start the stall clock without any
// change the sender signals) still looks every idlePoll.
func (r *Recorder) watch(ctx context.Context, s *sender.Sender) {
	t := time.NewTimer(idlePoll)
	defer t.Stop()
	var state camconsole.State
	var sentSeen, ackedSeen bool
	look := func() time.Duration {
		cn := s.Counters()
		if !sentSeen && cn.Sent > 0 {
			sentSeen = true
			r.println(camconsole.FirstSentLine(time.Since(r.start)))
		}
		if !ackedSeen && cn.Acked > 0 {
			ackedSeen = true
			r.println(camconsole.FirstAckedLine(time.Since(r.start)))
		}
		now := time.Now()
		if st := r.stateOf(cn, now); st != state {
			state = st
			r.println(st.Line())
		}
		return nextLook(cn, state, now)
	}
	for {
		changed := s.Changed()
		next := look()
		t.Reset(next)
		select {
		case <-ctx.Done():
			look()
			return
		case <-changed:
		case <-r.poke:
		case <-t.C:
		}
	}
}

// stallAfter is how long acknowledgements may pause, with frames
// outstanding, before the state says no-receiver.
const stallAfter = 5 * time.Second

// idlePoll is how often watch looks when nothing it is told about could
// tell it that the state changes (see nextLook).
const idlePoll = 500 * time.Millisecond

// nextLook is how long watch may wait, besides the sender's Changed and
// r.poke, before the counters cn (read at now, in state) can show
// another state. Connected and recording with acks seen, only the stall
// rule can turn it: with frames outstanding, at stallAfter past the last
// ack (an ack meanwhile only pushes that out, so it needs no wake-up);
// with none, a frame captured could make it true at once, which nothing
// signals, hence idlePoll. In every other state only a Changed or a poke
// changes it (a connection, a first ack, an ack after a pause ends a
// stall); a long wait then is just a safety net.
func nextLook(cn sender.Counters, state camconsole.State, now time.Time) time.Duration {
	switch {
	case state != camconsole.StateRecording || !cn.Connected || cn.LastAck.IsZero():
		return time.Minute
	case cn.Captured > cn.Acked+cn.Dropped:
		if d := cn.LastAck.Add(stallAfter).Sub(now) + time.Millisecond; d > 0 {
			return d
		}
	}
	return idlePoll
}

// setFailed sets the camera's error state and tells watch.
func (r *Recorder) setFailed(v bool) {
	r.failed.Store(v)
	select {
	case r.poke <- struct{}{}:
	default:
	}
}

// stateOf tells "recording" (a receiver is connected and acknowledging)
// from "no-receiver" (no connection, or one that stopped acknowledging
// what it was sent for over 5 s: the laptop is asleep or its disk full).
func (r *Recorder) stateOf(c sender.Counters, now time.Time) camconsole.State {
	if r.failed.Load() {
		return camconsole.StateError
	}
	return stateOf(c, now)
}

func stateOf(c sender.Counters, now time.Time) camconsole.State {
	if !c.Connected {
		return camconsole.StateNoReceiver
	}
	outstanding := c.Captured > c.Acked+c.Dropped
	if outstanding && !c.LastAck.IsZero() && now.Sub(c.LastAck) > stallAfter {
		return camconsole.StateNoReceiver
	}
	return camconsole.StateRecording
}
