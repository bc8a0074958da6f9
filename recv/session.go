package recv

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/camwire/camwire/sink"
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

// item is one sequenced record (Frame, SegmentEnd or Gap) or an
// unsequenced one (Stats, Log) on its way from the reader goroutine to the
// session. A Frame's payload is a copy from bufs.
type item struct {
	rec wire.Record
	seq uint64
}

// session is one framed connection after the handshake. Only its own
// goroutine touches its fields, except where noted.
type session struct {
	srv   *Server
	cc    *conn
	log   *slog.Logger
	hello wire.Hello
	st    *stream
	dir   string // camera folder
	done  chan struct{}
	items chan item
	quit  chan struct{}
	// free holds payload buffers of records made durable, for the reader
	// to copy the next frames into: reusing them instead of allocating
	// a copy of every frame is about a third of the receiver's CPU.
	free chan []byte
	rerr error // reader's final error; read after items is closed

	j        *journal
	d        snapshot // last durable snapshot
	w        sink.SegmentWriter
	open     *openSegment // segment w writes; Size and State are stale
	created  string       // file created but not yet journaled
	recvSeq  uint64       // highest seq accepted (durable or pending)
	applied  uint64       // highest seq applied to files
	gaps     uint64
	files    int
	pending  []item // accepted, not yet durable: replayed after a write error
	unsynced int64
	dirty    bool
	failed   error
	retried  time.Time
	lastAck  uint64
	tailDone bool   // bytes past the journal were moved aside once
	reported bool   // the current storage error was logged and sent
	bytes    uint64 // payload bytes received on this connection
	frames   uint64 // frames received on this connection
}

// serveFramed runs the handshake, then the session.
func (s *Server) serveFramed(cc *conn, br *bufio.Reader, log *slog.Logger) {
	cc.st.update(func(st *Status) { st.Mode = "framed"; st.Camera = "?" })
	// The handshake reader refuses frames: a peer that has not
	// authenticated cannot make the receiver allocate a frame buffer.
	hrd := wire.NewReader(br, wire.Limits{MaxFrame: 1, MaxControl: s.Limits.MaxControl})
	v, err := hrd.ReadPreamble()
	if err != nil {
		if errors.Is(err, wire.ErrVersion) {
			s.reject(cc, log, fmt.Sprintf("camwire-recv speaks protocol %d.%d and cannot talk to a camera speaking %s: update the older of the two", wire.Major, wire.Minor, v))
			return
		}
		log.Warn("connection closed: bad preamble", "err", err)
		return
	}
	r, err := hrd.Next()
	if err != nil {
		s.handshakeFailed(cc, log, "hello", err)
		return
	}
	hello, ok := r.(wire.Hello)
	if !ok {
		s.reject(cc, log, fmt.Sprintf("expected a hello record, got %s", r.Type()))
		return
	}
	if err := hello.Validate(); err != nil {
		s.reject(cc, log, "hello refused: "+err.Error())
		return
	}
	dir, err := within(s.Dir, hello.Name)
	if err != nil {
		s.reject(cc, log, "hello refused: "+err.Error())
		return
	}
	sid := hex.EncodeToString(hello.StreamID[:])
	log = log.With("camera", hello.Name, "stream", sid[:8])
	cc.st.update(func(st *Status) { st.Camera = hello.Name })

	var ch wire.Challenge
	rand.Read(ch.Nonce[:])
	ch.AuthRequired = s.Key != nil
	if err := s.send(cc, ch); err != nil {
		log.Warn("connection closed during handshake", "err", err)
		return
	}
	r, err = hrd.Next()
	if err != nil {
		s.handshakeFailed(cc, log, "auth", err)
		return
	}
	auth, ok := r.(wire.Auth)
	if !ok {
		s.reject(cc, log, fmt.Sprintf("expected an auth record, got %s", r.Type()))
		return
	}
	if s.Key != nil {
		if len(auth.MAC) == 0 {
			s.reject(cc, log, "this receiver requires the shared key (camwire-recv -key): set the same key on the camera")
			return
		}
		if !wire.CheckMAC(s.Key, ch.Nonce, hello.StreamID, hello.Name, auth.MAC) {
			s.reject(cc, log, "wrong key: the camera's key differs from camwire-recv -key")
			return
		}
	}

	ss := &session{
		srv: s, cc: cc, log: log, hello: hello, dir: dir,
		st:    s.stream(streamKey{hello.Name, hello.StreamID}),
		done:  make(chan struct{}),
		items: make(chan item, 16),
		quit:  make(chan struct{}),
		free:  make(chan []byte, freePayloads),
	}
	defer close(ss.done)
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
	if err := ss.load(sid); err != nil {
		s.reject(cc, log, "receiver cannot keep this stream's state: "+err.Error())
		log.Error("stream state", "err", err)
		return
	}
	defer ss.j.close()
	// The Welcome goes out even when the file cannot be reopened yet
	// (disk full while moving a tail aside): the session then starts in
	// the storage-error state, and the Notice must follow the Welcome.
	rerr := ss.restore()
	if err := s.send(cc, wire.Welcome{Acked: ss.d.Seq}); err != nil {
		log.Warn("connection closed during handshake", "err", err)
		return
	}
	if rerr != nil {
		ss.fail(rerr)
	}
	ss.lastAck = ss.d.Seq
	cc.st.update(func(st *Status) { st.LastAck = ss.d.Seq; st.Gaps = ss.d.Gaps })
	resumed := "new stream"
	if ss.d.Seq > 0 {
		resumed = "resuming"
	}
	log.Info("camera connected: "+resumed, "acked", ss.d.Seq, "codec", hello.Codec,
		"size", fmt.Sprintf("%dx%d", hello.Width, hello.Height), "fps", hello.FPS())
	ss.run(wire.NewReader(br, s.Limits))
}

// handshakeFailed closes a connection whose handshake record did not
// decode. A peer that sent a bad record is told why; one that went
// silent or away is only logged.
func (s *Server) handshakeFailed(cc *conn, log *slog.Logger, want string, err error) {
	var ne net.Error
	switch {
	case errors.Is(err, wire.ErrTooLarge) || errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrUnknownType):
		s.reject(cc, log, fmt.Sprintf("bad %s record: %v", want, err))
	case errors.As(err, &ne) && ne.Timeout() && !cc.stopped():
		log.Warn("connection closed: handshake timeout", "waiting_for", want, "timeout", s.HandshakeTimeout)
	default:
		log.Warn("connection closed during handshake", "waiting_for", want, "err", err)
	}
}

// send writes one record under the idle deadline, so a peer that never
// reads cannot block the session.
func (s *Server) send(cc *conn, r wire.Record) error {
	cc.c.SetWriteDeadline(time.Now().Add(s.IdleTimeout))
	return wire.Write(cc.c, r)
}

// reject tells the sender why, in words it can show, and logs the same.
func (s *Server) reject(cc *conn, log *slog.Logger, reason string) {
	log.Warn("connection rejected", "reason", reason)
	s.send(cc, wire.Reject{Reason: reason})
}

// load opens the stream's journal and takes its last snapshot as the
// durable state (a fresh state for a new stream).
func (ss *session) load(sid string) error {
	jdir := filepath.Join(ss.dir, stateDir)
	if err := os.MkdirAll(jdir, 0o755); err != nil {
		return err
	}
	j, last, ok, err := openJournal(filepath.Join(jdir, sid+journalExt))
	if err != nil {
		return err
	}
	ss.j = j
	if !ok {
		h := ss.hello
		last = snapshot{Camera: ss.hello.Name, Stream: sid, Hello: &h}
	}
	ss.d = last
	ss.recvSeq = last.Seq
	ss.applied = last.Seq
	return nil
}

// run applies records from the reader goroutine, fsyncs and acknowledges
// every SyncInterval or SyncBytes, and retries after a storage error.
// While storage fails it stops taking records: the reader blocks, TCP
// pushes back, and the camera keeps the unacknowledged frames.
func (ss *session) run(rd *wire.Reader) {
	srv := ss.srv
	go ss.readLoop(rd)
	tick := time.NewTicker(srv.SyncInterval)
	defer tick.Stop()
	stop := ss.cc.stop
	var why string
loop:
	for {
		if stop == nil && ss.failed != nil {
			why = "stopped while storage fails"
			break
		}
		var in <-chan item
		if ss.failed == nil {
			in = ss.items
		}
		select {
		case it, ok := <-in:
			if !ok {
				why = ss.endReason()
				break loop
			}
			if err := ss.handle(it); err != nil {
				why = "protocol error: " + err.Error()
				ss.log.Warn("closing connection", "reason", why)
				break loop
			}
		case <-tick.C:
			if ss.failed != nil {
				if time.Since(ss.retried) >= srv.RetryInterval {
					ss.retry()
				}
			} else {
				ss.sync()
			}
		case <-stop:
			// kick set a past read deadline: keep applying what the
			// reader already has until it ends, unless storage fails.
			stop = nil
		}
	}
	// Stop the reader without closing the connection, so the final sync
	// below can still acknowledge.
	close(ss.quit)
	ss.cc.kick()
	for range ss.items {
		// Decoded but not applied: not acknowledged, so the sender has them.
	}
	if ss.failed == nil {
		ss.sync()
	} else if err := ss.restore(); err != nil {
		// Bring the file back to its durable size: the bytes past it are
		// this connection's own writes since the storage error, never
		// acknowledged and still held by the camera. If that fails too,
		// the next connection moves them aside instead.
		ss.log.Warn("could not cut the file back to its acknowledged size", "err", err)
	}
	if ss.w != nil {
		if err := ss.w.Close(); err != nil && ss.failed == nil {
			ss.log.Error("closing segment file", "err", err)
		}
		ss.w = nil
	}
	ss.log.Info("camera disconnected", "reason", why, "durable_seq", ss.d.Seq, "bytes", ss.bytes)
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

// readLoop decodes records and hands them to run. Every record must
// arrive within IdleTimeout, so a slowloris sender is cut.
func (ss *session) readLoop(rd *wire.Reader) {
	defer close(ss.items)
	for {
		if err := ss.cc.setReadDeadline(ss.srv.IdleTimeout); err != nil {
			ss.rerr = err
			return
		}
		r, err := rd.Next()
		if err != nil {
			ss.rerr = err
			return
		}
		it := item{rec: r}
		switch v := r.(type) {
		case wire.Frame:
			v.Payload = ss.copyPayload(v.Payload)
			it.rec, it.seq = v, v.Seq
		case wire.SegmentEnd:
			it.seq = v.Seq
		case wire.Gap:
			it.seq = v.Seq
		}
		select {
		case ss.items <- it:
		case <-ss.quit:
			ss.rerr = errStopped
			return
		}
	}
}

// Payload buffers kept for reuse per session: enough for the frames
// between two syncs at a camera's rate, and none of a keyframe's size
// class beyond maxFreePayload, so an idle session holds little.
const (
	freePayloads   = 64
	maxFreePayload = 256 << 10
)

// copyPayload copies a frame's payload out of the reader's buffer, into
// a released buffer when one is big enough. Sinks and OnFrame see a
// payload only during their call (see sink.SegmentWriter), so once its
// record is durable nothing else refers to it.
func (ss *session) copyPayload(p []byte) []byte {
	select {
	case b := <-ss.free:
		if cap(b) >= len(p) {
			return append(b[:0], p...)
		}
	default:
	}
	return slices.Clone(p)
}

// release hands a record's payload back to copyPayload.
func (ss *session) release(it item) {
	f, ok := it.rec.(wire.Frame)
	if !ok || cap(f.Payload) > maxFreePayload {
		return
	}
	select {
	case ss.free <- f.Payload:
	default:
	}
}

// handle checks a record's place in the sequence and applies it.
func (ss *session) handle(it item) error {
	var first uint64
	switch r := it.rec.(type) {
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
	case wire.Frame:
		first = r.Seq
	case wire.SegmentEnd:
		first = r.Seq
	case wire.Gap:
		first = r.First
	default:
		return fmt.Errorf("unexpected %s record after the handshake", it.rec.Type())
	}
	if it.seq <= ss.recvSeq {
		ss.release(it)
		return nil // resent after a reconnect; already stored
	}
	if first != ss.recvSeq+1 {
		return fmt.Errorf("%s with seq %d does not follow %d", it.rec.Type(), first, ss.recvSeq)
	}
	ss.recvSeq = it.seq
	if f, ok := it.rec.(wire.Frame); ok {
		ss.bytes += uint64(len(f.Payload))
		ss.frames++
		if ss.srv.OnFrame != nil {
			ss.srv.OnFrame(ss.hello.Name, ss.hello, f)
		}
	}
	ss.pending = append(ss.pending, it)
	if err := ss.apply(it); err != nil {
		ss.fail(err)
		return nil
	}
	if ss.unsynced >= ss.srv.SyncBytes {
		ss.sync()
	}
	return nil
}

// apply stores one sequenced record. It is also how pending records are
// replayed after a storage error, so it depends only on the session's
// file state, never on the connection.
func (ss *session) apply(it item) error {
	switch r := it.rec.(type) {
	case wire.Frame:
		if ss.w != nil && ss.open.Segment != r.Segment {
			ss.log.Warn("segment ended without a segment-end record; finishing it",
				"segment", ss.open.Segment, "next_segment", r.Segment, "seq", r.Seq)
			if err := ss.finish(); err != nil {
				return err
			}
		}
		if ss.w == nil {
			if err := ss.create(r.Segment); err != nil {
				return err
			}
		}
		if err := ss.w.WriteFrame(r); err != nil {
			return err
		}
		ss.unsynced += int64(len(r.Payload))
	case wire.SegmentEnd:
		ss.applied = r.Seq
		if ss.w != nil && ss.open.Segment == r.Segment {
			return ss.finish()
		}
		open := "none"
		if ss.open != nil {
			open = fmt.Sprint(ss.open.Segment)
		}
		if ss.gaps > 0 {
			// Expected after a gap: the camera dropped that segment's
			// frames, and the gap was logged as a warning already.
			ss.log.Info("segment-end for a segment whose frames the camera dropped", "segment", r.Segment, "open", open, "seq", r.Seq)
			break
		}
		ss.log.Warn("segment-end for a segment that is not open; ignored", "segment", r.Segment, "open", open, "seq", r.Seq)
	case wire.Gap:
		ss.gaps++
		ss.log.Warn("camera dropped records (gap)", "first", r.First, "last", r.Seq, "frames", r.Frames)
	}
	ss.applied = it.seq
	ss.dirty = true
	return nil
}

func (ss *session) path(o *openSegment) string { return filepath.Join(ss.dir, o.File) }

func (ss *session) info(o *openSegment) sink.SegmentInfo {
	return sink.SegmentInfo{Hello: ss.hello, Segment: o.Segment, Start: o.Start}
}

// create starts a new .partial file for segment seg and journals it
// before any frame goes in, so after a crash its bytes are accounted for.
func (ss *session) create(seg uint32) error {
	start := time.Now()
	base, err := fileBase(start, ss.srv.sinkV.Ext())
	if err != nil {
		return err
	}
	o := &openSegment{Segment: seg, File: base + partialExt, Start: start.UTC()}
	p, err := within(ss.dir, o.File)
	if err != nil {
		return err
	}
	w, err := ss.srv.sinkV.Create(p, ss.info(o))
	if err != nil {
		return fmt.Errorf("create %s: %w", p, err)
	}
	ss.created = p
	ss.w, ss.open = w, o
	if err := syncDir(p); err != nil {
		return err
	}
	snap := ss.d
	oc := *o
	snap.Open = &oc
	snap.Time = time.Now().UTC()
	if err := ss.j.append(snap); err != nil {
		return err
	}
	ss.created = ""
	ss.d = snap
	ss.log.Info("segment started", "segment", seg, "file", p)
	return nil
}

// finish completes the open segment: fsync, the format's trailer, rename
// to its final name, then a journal entry. Only after that entry is the
// segment's last seq acknowledged, so a crash anywhere before leaves a
// .partial that resumes.
func (ss *session) finish() error {
	p := ss.path(ss.open)
	if _, _, err := ss.w.Sync(); err != nil {
		return err
	}
	w := ss.w
	ss.w = nil
	if err := w.Finish(); err != nil {
		return fmt.Errorf("finish %s: %w", p, err)
	}
	final := strings.TrimSuffix(p, partialExt)
	if err := os.Rename(p, final); err != nil {
		return fmt.Errorf("rename %s: %w", p, err)
	}
	if err := syncDir(final); err != nil {
		return err
	}
	snap := ss.d
	snap.Seq, snap.Gaps, snap.Files = ss.applied, ss.gaps, ss.files+1
	snap.Open = nil
	snap.Time = time.Now().UTC()
	if err := ss.j.append(snap); err != nil {
		return err
	}
	ss.files++
	ss.open = nil
	ss.durable(snap)
	ss.cc.st.update(func(st *Status) { st.Files++ })
	ss.log.Info("segment complete", "file", final)
	ss.srv.finished(ss.hello.Name, final)
	return nil
}

// sync makes everything applied durable, journals it and acknowledges.
func (ss *session) sync() {
	if ss.failed != nil || !ss.dirty {
		return
	}
	snap := ss.d
	snap.Seq, snap.Gaps, snap.Files = ss.applied, ss.gaps, ss.files
	snap.Time = time.Now().UTC()
	if ss.w != nil {
		size, state, err := ss.w.Sync()
		if err != nil {
			ss.fail(err)
			return
		}
		o := *ss.open
		o.Size, o.State = size, state
		snap.Open = &o
	}
	if err := ss.j.append(snap); err != nil {
		ss.fail(err)
		return
	}
	ss.durable(snap)
}

// durable records snap as the new durable state, forgets the records it
// covers and acknowledges them.
func (ss *session) durable(snap snapshot) {
	ss.d = snap
	ss.dirty = ss.applied > snap.Seq
	ss.unsynced = 0
	i := 0
	for i < len(ss.pending) && ss.pending[i].seq <= snap.Seq {
		ss.release(ss.pending[i])
		ss.pending[i] = item{}
		i++
	}
	ss.pending = ss.pending[i:]
	if len(ss.pending) == 0 {
		ss.pending = nil
	}
	if snap.Seq > ss.lastAck {
		ss.lastAck = snap.Seq
		if err := ss.srv.send(ss.cc, wire.Ack{Seq: snap.Seq}); err != nil {
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

// retry restores the files to the last durable state and replays the
// pending records.
func (ss *session) retry() {
	ss.retried = time.Now()
	if err := ss.restore(); err != nil {
		ss.fail(err)
		return
	}
	items := slices.Clone(ss.pending)
	ss.failed = nil
	for _, it := range items {
		if err := ss.apply(it); err != nil {
			ss.fail(err)
			return
		}
		if ss.unsynced >= ss.srv.SyncBytes {
			if ss.sync(); ss.failed != nil {
				return
			}
		}
	}
	if ss.sync(); ss.failed != nil {
		return
	}
	if !ss.reported {
		return
	}
	ss.reported = false
	ss.log.Info("storage works again; acknowledging", "acked", ss.d.Seq)
	ss.srv.send(ss.cc, wire.Notice{Message: "camwire-recv stores data again"})
	ss.cc.st.update(func(st *Status) { st.Error = "" })
}

// restore closes the writer and brings the open segment's file back to
// exactly its durable size, then reopens it. The first time (at connect),
// bytes past that size come from an earlier connection or run and are
// moved to a side file; after a write error in this session they are
// this session's own unacknowledged writes, still held in pending, and
// are cut off before being written again.
func (ss *session) restore() (err error) {
	defer func() {
		if err == nil {
			ss.tailDone = true
		}
	}()
	if ss.w != nil {
		ss.w.Close()
		ss.w = nil
	}
	if ss.created != "" {
		if fi, err := os.Stat(ss.created); err == nil && fi.Size() == 0 {
			os.Remove(ss.created)
		} else if err == nil {
			ss.log.Warn("keeping a file that was never journaled", "file", ss.created)
		}
		ss.created = ""
	}
	ss.applied, ss.gaps, ss.files = ss.d.Seq, ss.d.Gaps, ss.d.Files
	ss.unsynced, ss.dirty, ss.open = 0, false, nil
	o := ss.d.Open
	if o == nil {
		return nil
	}
	p, perr := within(ss.dir, o.File)
	if perr != nil {
		return perr
	}
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		final := strings.TrimSuffix(p, partialExt)
		if _, ferr := os.Stat(final); ferr == nil {
			// Finished and renamed, but the journal entry saying so was
			// lost; the sender resends the segment-end.
			ss.log.Warn("segment was renamed but not journaled; reopening it", "file", final)
			if err := os.Rename(final, p); err != nil {
				return err
			}
			fi, err = os.Stat(p)
		}
	}
	switch {
	case errors.Is(err, os.ErrNotExist):
		ss.log.Error("journaled file is missing; the segment continues in a new file", "file", p)
		ss.d.Open = nil
		ss.dirty = true
		return nil
	case err != nil:
		return err
	case fi.Size() < o.Size:
		ss.log.Error("file is shorter than journaled (changed outside camwire-recv?); kept as is, the segment continues in a new file",
			"file", p, "size", fi.Size(), "journaled", o.Size)
		ss.d.Open = nil
		ss.dirty = true
		return nil
	case fi.Size() > o.Size && !ss.tailDone:
		side, merr := moveTail(p, o.Size)
		if merr != nil {
			return merr
		}
		ss.log.Warn("moved unacknowledged bytes aside; the camera sends them again", "file", p, "kept_in", side, "bytes", fi.Size()-o.Size)
	case fi.Size() > o.Size:
		if err := os.Truncate(p, o.Size); err != nil {
			return fmt.Errorf("truncate %s: %w", p, err)
		}
	}
	if was, now := filepath.Ext(strings.TrimSuffix(o.File, partialExt)), ss.srv.sinkV.Ext(); was != now {
		// camwire-recv restarted with another -format (or a new
		// default): this sink cannot append to the other's file. The
		// file stays, playable up to its durable size; the rest of the
		// segment goes into a new file in the current format.
		ss.log.Warn("segment was started in another file format; kept as it is, the segment continues in a new file",
			"file", p, "format", was, "now", now)
		ss.d.Open = nil
		ss.dirty = true
		return nil
	}
	w, err := ss.srv.sinkV.Reopen(p, ss.info(o), o.Size, o.State)
	if err != nil {
		return fmt.Errorf("reopen %s: %w", p, err)
	}
	oc := *o
	ss.w, ss.open = w, &oc
	return nil
}
