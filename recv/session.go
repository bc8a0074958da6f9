package recv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/camwire/camwire/clockmap"
	"github.com/camwire/camwire/wire"
)

// streamKey identifies one run of one camera's sender.
type streamKey struct {
	name string
	id   [wire.StreamIDLen]byte
}

// stream is the receiver's side of one sender run. At most one session
// owns it at a time; a newer connection of the same stream (the camera
// reconnected while the old TCP connection still looks alive) takes it
// over after the old session has synced and let go.
type stream struct {
	mu    sync.Mutex
	owner *session
	// clock maps the stream's capture clock to the wall clock; it
	// outlives connections, since a reconnecting sender keeps its clock.
	clock clockmap.Estimator
}

func (s *Server) stream(k streamKey) *stream {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[k]
	if st == nil {
		st = &stream{}
		s.streams[k] = st
	}
	return st
}

// session is one framed connection after the handshake: it reads
// records, checks their order, hands the sequenced ones to its store and
// acknowledges what the store made durable. Only its own goroutine
// touches its fields, except where noted.
type session struct {
	srv   *Server
	cc    *conn
	log   *slog.Logger
	hello wire.Hello
	st    *stream
	store *store
	done  chan struct{}
	// quit ends the reader while it waits out a storage error.
	quit chan struct{}
	// readerDone is closed when the reader goroutine has ended; rerr
	// and perr are read after it.
	readerDone chan struct{}
	// resumed wakes the reader once a retry succeeded.
	resumed chan struct{}
	rerr    error // reader's final error
	perr    error // protocol error that ended the reader
	// got is the payload buffer of the frame being read (see buffer):
	// Next does not return a frame cut short, so the reader gives it
	// back from here. Only the reader touches it.
	got []byte

	// mu is held by the reader goroutine while it applies a record and
	// by run while it syncs or retries: it guards the store and every
	// field below.
	mu        sync.Mutex
	recvSeq   uint64 // highest seq accepted (durable or pending)
	failed    error
	retried   time.Time
	lastAck   uint64
	reported  bool   // the current storage error was logged and sent
	bytes     uint64 // payload bytes received on this connection
	frames    uint64 // frames received on this connection
	minor     uint8  // the sender's minor protocol version
	badTables uint64 // frames whose NAL table did not match (checkNALs)
	// warnedAhead: a mapped capture time in the future was logged.
	warnedAhead bool
}

// serveSession takes the stream over from an older connection, loads its
// durable state, welcomes the sender with it and runs the session.
func (s *Server) serveSession(cc *conn, rd *wire.Reader, p peer) {
	log := p.log
	ss := &session{
		srv: s, cc: cc, log: log, hello: p.hello,
		st:         s.stream(streamKey{p.hello.Name, p.hello.StreamID}),
		done:       make(chan struct{}),
		quit:       make(chan struct{}),
		readerDone: make(chan struct{}),
		resumed:    make(chan struct{}, 1),
		minor:      p.minor,
	}
	if p.clockOK {
		ss.st.clock.Add(p.clock)
	}
	ss.store = &store{
		dir: p.dir, hello: p.hello, sink: s.sinkV, log: log, syncBytes: s.SyncBytes,
		onDurable: ss.durable, onFile: ss.finished, release: ss.release,
		wall: ss.wall, frameTime: ss.frameTime,
	}
	defer close(ss.done)
	s.sessions.Add(1)
	defer s.sessions.Add(-1)
	ss.st.mu.Lock()
	old := ss.st.owner
	ss.st.owner = ss
	ss.st.mu.Unlock()
	defer func() {
		ss.st.mu.Lock()
		if ss.st.owner == ss {
			ss.st.owner = nil
		}
		ss.st.mu.Unlock()
	}()
	if old != nil {
		log.Info("camera reconnected; closing its older connection", "old_peer", old.cc.st.Peer)
		old.cc.kick()
		<-old.done
	}
	if err := ss.store.load(p.sid); err != nil {
		s.reject(cc, log, "receiver cannot keep this stream's state: "+err.Error())
		log.Error("stream state", "err", err)
		return
	}
	defer ss.store.close()
	d := &ss.store.d
	ss.recvSeq = d.Seq
	// The Welcome goes out even when the file cannot be reopened yet
	// (disk full while moving a tail aside): the session then starts in
	// the storage-error state, and the Notice must follow the Welcome.
	rerr := ss.store.restore()
	if err := s.send(cc, wire.Welcome{Acked: d.Seq}); err != nil {
		log.Warn("connection closed during handshake", "err", err)
		return
	}
	if rerr != nil {
		ss.fail(rerr)
	}
	ss.lastAck = d.Seq
	cc.st.update(func(st *Status) { st.LastAck = d.Seq; st.Gaps = d.Gaps })
	resumed := "new stream"
	if d.Seq > 0 {
		resumed = "resuming"
	}
	h := p.hello
	clock := "none (protocol before 1.2: files are named by arrival time)"
	if est := ss.st.clock.Estimate(); est.Samples > 0 {
		clock = fmt.Sprintf("offset %v ±%v", est.Offset, est.Error)
	}
	log.Info("camera connected: "+resumed, "acked", d.Seq, "codec", h.Codec,
		"size", fmt.Sprintf("%dx%d", h.Width, h.Height), "fps", h.FPS(),
		"protocol", fmt.Sprintf("%d.%d", wire.Major, p.minor), "capture_clock", clock)
	ss.run(rd)
}

// run reads and applies records (the reader goroutine, readLoop), fsyncs
// and acknowledges every SyncInterval or SyncBytes, and retries after a
// storage error. While storage fails the reader stops taking records: TCP
// pushes back, and the camera keeps the unacknowledged frames.
//
// The reader applies each record itself, under mu, rather than handing it
// to this goroutine: a hand-off per frame woke a second thread for every
// frame and was a fifth of the receiver's CPU (BenchmarkRecvVsNC).
func (ss *session) run(rd *wire.Reader) {
	srv := ss.srv
	rd.ReadPayloadsInto(ss.buffer, ss.cc.c)
	go ss.readLoop(rd)
	tick := time.NewTicker(srv.SyncInterval)
	defer tick.Stop()
	stop := ss.cc.stop
	var why string
loop:
	for {
		select {
		case <-ss.readerDone:
			if ss.perr != nil {
				why = "protocol error: " + ss.perr.Error()
				ss.log.Warn("closing connection", "reason", why)
			} else {
				why = ss.endReason()
			}
			break loop
		case <-tick.C:
			ss.mu.Lock()
			if ss.failed != nil {
				if time.Since(ss.retried) >= srv.RetryInterval {
					ss.retry()
				}
				if ss.failed == nil {
					select {
					case ss.resumed <- struct{}{}:
					default:
					}
				}
			} else {
				ss.sync()
			}
			failed := ss.failed != nil
			ss.mu.Unlock()
			if stop == nil && failed {
				why = "stopped while storage fails"
				break loop
			}
		case <-stop:
			// kick set a past read deadline: the reader applies what it
			// already has until it ends, unless storage fails.
			stop = nil
			ss.mu.Lock()
			failed := ss.failed != nil
			ss.mu.Unlock()
			if failed {
				why = "stopped while storage fails"
				break loop
			}
		}
	}
	// Stop the reader without closing the connection, so the final sync
	// below can still acknowledge. Records it read but did not apply are
	// not acknowledged, so the sender has them.
	close(ss.quit)
	ss.cc.kick()
	<-ss.readerDone
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.failed == nil {
		ss.sync()
	} else if err := ss.store.restore(); err != nil {
		// Bring the file back to its durable size: the bytes past it are
		// this connection's own writes since the storage error, never
		// acknowledged and still held by the camera. If that fails too,
		// the next connection moves them aside instead.
		ss.log.Warn("could not cut the file back to its acknowledged size", "err", err)
	}
	if err := ss.store.closeWriter(); err != nil && ss.failed == nil {
		ss.log.Error("closing segment file", "err", err)
	}
	ss.store.drop()
	if ss.badTables > 0 {
		ss.log.Warn("NAL tables that did not match their frames on this connection", "frames", ss.badTables)
	}
	ss.log.Info("camera disconnected", "reason", why, "durable_seq", ss.store.d.Seq, "bytes", ss.bytes,
		ConsoleKey, ss.hello.Name+": disconnected ("+why+")")
}

func (ss *session) endReason() string {
	err := ss.rerr
	switch {
	case ss.cc.stopped():
		return "receiver stopping or camera reconnected"
	case err == io.EOF:
		return "camera closed the connection"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "idle timeout: no record for too long"
	}
	if errors.Is(err, wire.ErrTooLarge) || errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrUnknownType) {
		ss.log.Warn("closing connection", "reason", err)
	}
	return err.Error()
}

// readLoop decodes records and applies them. Every record must arrive
// within IdleTimeout, so a slowloris sender is cut. While storage fails it
// applies nothing: a record read meanwhile waits for run's retry to
// restore the files and replay what was pending, exactly as run took no
// record in that state before the reader applied them itself. Applying
// it anyway let a segment end (or a new segment's first frame) finish the
// file with a second fsync, which after a writeback error can succeed
// with the lost pages missing, and acknowledge it.
func (ss *session) readLoop(rd *wire.Reader) {
	defer close(ss.readerDone)
	for {
		if err := ss.cc.setReadDeadline(ss.srv.IdleTimeout); err != nil {
			ss.rerr = err
			return
		}
		ss.got = nil
		r, err := rd.Next()
		if err != nil {
			// A frame cut short had its buffer already.
			ss.srv.payloads.Put(ss.got)
			ss.got = nil
			ss.rerr = err
			return
		}
		if c, ok := r.(wire.Clock); ok {
			// Stamped here, as it is read, not when the session gets to
			// it: a busy session must not look like network delay.
			if smp, ok := ss.srv.sample(c, ss.srv.now()); ok {
				ss.st.clock.Add(smp)
			}
			continue
		}
		applied, err := ss.apply(r)
		if !applied {
			ss.release(r)
			ss.rerr = errStopped // run stopped: not applied, not acknowledged
			return
		}
		if err != nil {
			ss.release(r)
			ss.perr = err
			return
		}
	}
}

// apply hands r to handle once storage works. It returns false, without
// applying r, if run stopped first.
func (ss *session) apply(r wire.Record) (applied bool, err error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for {
		select {
		case <-ss.quit:
			return false, nil
		default:
		}
		if ss.failed == nil {
			return true, ss.handle(r)
		}
		ss.mu.Unlock()
		select {
		case <-ss.resumed:
		case <-ss.quit:
		}
		ss.mu.Lock()
	}
}

// buffer is the reader's wire.Reader.ReadPayloadsInto: each payload is
// read into a buffer of the receiver's shared pool (bufpool), which the
// session owns until the record is durable. A connection thus holds only
// what it has not acknowledged, and a keyframe's big buffer serves the
// next keyframe of any camera: a cache per session (64 buffers of up to
// 256 KiB, keyframes allocated afresh every time) held 235 MB of 128
// cameras' heap. The sink writes from the payload until its Sync
// (sink.SegmentInfo.Stable); OnFrame sees it only during its call.
func (ss *session) buffer(n int) []byte {
	ss.got = ss.srv.payloads.Get(n)
	return ss.got
}

// release hands a record's payload back to the pool once nothing refers
// to it: the record is durable, was a resent duplicate never stored, or
// is dropped unapplied (session ending, protocol error). Every buffer
// goes back, so the pool's InUse is what connections hold.
func (ss *session) release(r wire.Record) {
	if f, ok := r.(wire.Frame); ok {
		ss.srv.payloads.Put(f.Payload)
	}
}

// handle checks a record's place in the sequence and hands it to the
// store; unsequenced records (Stats, Log) go to the status and the log.
func (ss *session) handle(rec wire.Record) error {
	var first uint64
	switch r := rec.(type) {
	case wire.Stats:
		ss.cc.st.update(func(st *Status) {
			st.BufferUsed, st.BufferSize, st.TempMilliC = r.BufferUsed, r.BufferSize, r.TempMilliC
		})
		ss.log.Debug("camera stats", "captured", r.Captured, "sent", r.Sent, "dropped", r.Dropped,
			"buffer_used", r.BufferUsed, "buffer_size", r.BufferSize)
		return nil
	case wire.Log:
		lvl := slog.LevelInfo
		switch r.Level {
		case wire.LevelWarn:
			lvl = slog.LevelWarn
		case wire.LevelError:
			lvl = slog.LevelError
		}
		ss.log.Log(context.Background(), lvl, "camera says: "+r.Message)
		return nil
	case wire.BootReport:
		ss.report(r)
		return nil
	case wire.Frame:
		first = r.Seq
		// rec is boxed again only when the table was dropped: a Frame
		// in an interface is an allocation, one per frame otherwise.
		if f := ss.checkNALs(r); f.NALs == nil && r.NALs != nil {
			rec = f
		}
	case wire.SegmentEnd:
		first = r.Seq
	case wire.Gap:
		first = r.First
	default:
		return fmt.Errorf("unexpected %s record after the handshake", rec.Type())
	}
	seq := wire.SeqOf(rec)
	if seq <= ss.recvSeq {
		ss.release(rec)
		return nil // resent after a reconnect; already stored
	}
	if first != ss.recvSeq+1 {
		return fmt.Errorf("%s with seq %d does not follow %d", rec.Type(), first, ss.recvSeq)
	}
	ss.recvSeq = seq
	if f, ok := rec.(wire.Frame); ok {
		if ss.frames == 0 {
			ss.buffered(f)
		}
		ss.bytes += uint64(len(f.Payload))
		ss.frames++
		if ss.srv.OnFrame != nil {
			ss.srv.OnFrame(ss.hello.Name, ss.hello, f)
		}
	}
	if err := ss.store.add(rec); err != nil {
		ss.fail(err)
		return nil
	}
	if ss.store.due() || ss.crowded() {
		ss.sync()
	}
	return nil
}

// crowded reports whether the receiver's connections together hold more
// than MaxUnsynced bytes not yet durable while this one holds at least
// half its share of it: then it syncs now. Half, so that once every
// connection has synced early the total is back well under the cap and
// they do not all sync at every frame; a connection under half its share
// holds less than the others, and syncing it would free little.
//
// The connections' payload buffers (bufpool's in-use bytes, which the
// check reads) thus stay under 1.5×MaxUnsynced plus two frames a
// connection (the one being read, the one just stored): once past the
// cap, one that holds more than half its share syncs at its next frame,
// and while it waits for that frame the others grow to half their
// shares at most.
func (ss *session) crowded() bool {
	srv := ss.srv
	if ss.store.unsynced == 0 || srv.payloads.InUse() <= srv.MaxUnsynced {
		return false
	}
	share := srv.MaxUnsynced / max(1, srv.sessions.Load())
	return ss.store.unsynced >= share/2
}

// sync makes everything applied durable, journals it and acknowledges.
func (ss *session) sync() {
	if ss.failed != nil {
		return
	}
	if err := ss.store.sync(); err != nil {
		ss.fail(err)
	}
}

// durable is the store's onDurable: it acknowledges snap and shows it in
// the connection's status.
func (ss *session) durable(snap snapshot) {
	if snap.Seq > ss.lastAck {
		ss.lastAck = snap.Seq
		ack := wire.Ack{Seq: snap.Seq}
		if ss.minor >= 2 {
			ack.Ping = ss.srv.ping()
		}
		if err := ss.srv.send(ss.cc, ack); err != nil {
			ss.cc.c.Close() // the reader ends and run finishes
		}
	}
	ss.cc.st.update(func(st *Status) {
		if st.LastAck != snap.Seq {
			st.LastAckTime = time.Now()
		}
		st.LastAck, st.Gaps, st.Bytes, st.Frames = snap.Seq, snap.Gaps, ss.bytes, ss.frames
		st.File = ""
		if snap.Open != nil {
			st.File = snap.Open.File
		}
	})
}

// finished is the store's onFile.
func (ss *session) finished(path string) {
	ss.cc.st.update(func(st *Status) { st.Files++ })
	ss.srv.finished(ss.hello.Name, path)
}

// fail enters the storage-error state: no more acknowledgements, no more
// reading, a retry every RetryInterval.
func (ss *session) fail(err error) {
	if !ss.reported {
		ss.reported = true
		ss.log.Error("cannot store the camera's data; acknowledgements stop and the camera keeps its frames until this is fixed", "err", err)
		ss.srv.send(ss.cc, wire.Notice{Message: "camwire-recv cannot store data, acknowledgements paused: " + err.Error()})
		ss.cc.st.update(func(st *Status) { st.Error = err.Error() })
	} else {
		ss.log.Debug("storage still failing", "err", err)
	}
	ss.failed = err
	ss.retried = time.Now()
}

// retry has the store restore its files to the last durable state and
// replay the pending records.
func (ss *session) retry() {
	ss.retried = time.Now()
	if err := ss.store.replay(); err != nil {
		ss.fail(err)
		return
	}
	ss.failed = nil
	if !ss.reported {
		return
	}
	ss.reported = false
	ss.log.Info("storage works again; acknowledging", "acked", ss.store.d.Seq)
	ss.srv.send(ss.cc, wire.Notice{Message: "camwire-recv stores data again"})
	ss.cc.st.update(func(st *Status) { st.Error = "" })
}
