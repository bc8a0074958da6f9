// Package recv is camwire-recv's engine: it accepts cameras on one TCP
// port and stores what they send under one folder per camera.
//
// A connection that opens with wire.Magic is a framed stream: the
// receiver stores each record through a sink.Sink and acknowledges a
// sequence number only once it is fsynced and journaled, so a sender that
// resumes from the last acknowledgement neither loses nor duplicates a
// frame, even across a receiver crash. Any other connection is a raw
// stream (raspivid | nc), stored byte for byte until EOF.
//
// A framed connection passes three parts in turn: the handshake checks
// the hello and the key; the session reads records, checks their order
// and acknowledges; the segment store (journal, last durable snapshot,
// open segment file, records not yet durable) writes them through the
// sink and knows nothing of the connection.
//
// Start one in-process with
//
//	srv := &recv.Server{Dir: dir}
//	go srv.Serve(ctx, ln)
//
// Serve returns once ctx is cancelled and every file is fsynced.
package recv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camwire/camwire/internal/backoff"
	"github.com/camwire/camwire/internal/bufpool"
	"github.com/camwire/camwire/internal/rawio"
	"github.com/camwire/camwire/sink"
	"github.com/camwire/camwire/wire"
)

// Server receives camera streams. The zero value plus Dir is usable;
// fields must not change once Serve has started.
type Server struct {
	Dir string // root folder for recordings; created if missing
	Key []byte // shared key; nil accepts any framed sender
	// AllowRaw accepts raw streams (raspivid | nc) although Key is set.
	// A raw stream cannot prove the key, so by default a receiver with a
	// key refuses them: anyone on the cable could fill the disk.
	AllowRaw bool
	Sink     sink.Sink    // file format of framed streams; nil means Annex-B .h264
	Logger   *slog.Logger // nil means slog.Default()

	// MaxConns bounds concurrent connections; 0 means 64. When all are
	// taken, a new connection replaces the oldest one still in its
	// handshake, else it is closed at once; raw streams get at most
	// three quarters of the slots (see admit), so junk can never lock a
	// camera out.
	MaxConns         int
	HandshakeTimeout time.Duration // preamble to Welcome; 0 means 10s
	IdleTimeout      time.Duration // longest wait for one record or raw byte; 0 means 60s
	SyncInterval     time.Duration // fsync+ack at least this often while data flows; 0 means 500ms
	SyncBytes        int64         // ... or after this many bytes; 0 means 1 MiB
	// MaxUnsynced bounds the payload bytes all connections together
	// hold before they are durable; 0 means DefaultMaxUnsynced. Past it,
	// a connection syncs (fsync and acknowledge) as soon as it holds
	// half its share (MaxUnsynced over the connected cameras) instead of
	// waiting for SyncInterval or SyncBytes, so the receiver's memory
	// does not grow with the camera count: 128 cameras connecting at
	// once, in step, each reached SyncBytes plus a keyframe, 245 MB
	// together (BenchmarkCameras), twice their steady 50-105 MB.
	MaxUnsynced   int64
	RetryInterval time.Duration // retry after a write error (disk full); 0 means 2s
	Limits        wire.Limits   // zero fields mean wire.DefaultLimits

	// OnFile, if set, is called after a file is finished: fsynced and
	// renamed to its final name. Tests and the live view wait on it.
	OnFile func(camera, path string)
	// OnRawFile, if set, is called after OnFile for the finished file of
	// a raw stream (raspivid | nc), which has no timestamps and so stays
	// .h264 whatever Sink is: camwire-recv -fps remuxes it to MP4 here.
	// It runs on the connection's goroutine, so Serve waits for it.
	OnRawFile func(folder, path string)
	// OnFrame, if set, is called with every new frame of a framed stream
	// (resent duplicates excluded) before it is stored, e.g. live.Publish.
	// It must not block; f.Payload is only valid during the call.
	OnFrame func(camera string, hello wire.Hello, f wire.Frame)
	// Now is the receiver's clock for capture times (file names, MP4
	// times, the clock samples of protocol 1.2); nil means time.Now.
	// Tests inject a clock that jumps.
	Now func() time.Time

	// OnReport, if set, is called with each boot report a camera sent,
	// after it was stored at path (DIR/<camera>/.camwire/boot/…txt).
	OnReport func(camera, path, text string)

	// DiagnoseAfter, when positive, prints a network diagnosis to
	// DiagnoseOut (nil: os.Stderr) if no camera connected within it.
	DiagnoseAfter time.Duration
	DiagnoseOut   io.Writer
	// CameraNet is the cameras' subnet, for the diagnosis; zero means
	// 192.168.77.0/24 with the receiver on .1.
	CameraNet netip.Prefix
	// Interfaces lists the host's interfaces for the diagnosis; nil
	// means net.Interfaces. Tests replace it.
	Interfaces func() ([]Interface, error)

	mu      sync.Mutex
	streams map[streamKey]*stream
	live    map[string][]liveStream // claimed name → its connected streams (names.go)
	sticky  map[streamKey]string    // claimed name and stream → folder it records into
	warned  map[string]bool         // name clashes already logged
	conns   map[*conn]struct{}
	wg      sync.WaitGroup
	ever    atomic.Bool // a connection arrived
	sinkV   sink.Sink
	log     *slog.Logger
	stopped chan struct{}
	epoch   time.Time // ping stamps count from here (clock.go)
	// sessions counts the framed connections past the handshake, for
	// the share of MaxUnsynced (session.crowded).
	sessions atomic.Int64
	// payloads holds the frames' payload buffers (see session.buffer);
	// nil means bufpool.Payloads, shared by every Server. Tests set
	// their own to see what the connections hold.
	payloads *bufpool.Pool
	// syncFile, if set, replaces a raw stream's fsync (see Server.fsync).
	syncFile func(*os.File) error
}

// DefaultMaxUnsynced is Server.MaxUnsynced's default. 128 cameras of
// 16 Mbit/s hold 50-105 MB in a steady state, but the shared pool keeps
// about as much again idle for the next wave of frames (internal/bufpool),
// so the receiver's peak RSS is some twice its peak of unsynced bytes:
// with 128 MiB it was 263 MiB (BenchmarkCameras), with 64 MiB 214 MiB.
const DefaultMaxUnsynced = 64 << 20

// conn is one accepted connection, raw or framed, for status and shutdown.
type conn struct {
	c        net.Conn
	stopOnce sync.Once
	stop     chan struct{} // closed by kick
	st       status
	// phase is what the connection is, under Server.mu: phaseHello until
	// it proved to be a camera (framed, authenticated) or a raw stream.
	phase   int
	evicted bool      // kicked to make room; no longer counts
	at      time.Time // accepted
}

const (
	phaseHello  = iota // preamble, hello, auth: not yet known
	phaseRaw           // raw (raspivid | nc) stream
	phaseCamera        // framed, past the handshake
)

// kick makes the connection's reader return: shutdown, or a newer
// connection of the same stream taking over. The reader refreshes its
// deadline before each record and checks stop afterwards, so the past
// deadline set here cannot be overwritten.
func (c *conn) kick() {
	c.stopOnce.Do(func() { close(c.stop) })
	c.c.SetReadDeadline(time.Unix(1, 0))
}

func (c *conn) stopped() bool {
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

// setReadDeadline arms the idle deadline unless the connection was
// kicked; see kick.
func (c *conn) setReadDeadline(d time.Duration) error {
	c.c.SetReadDeadline(time.Now().Add(d))
	if c.stopped() {
		c.c.SetReadDeadline(time.Unix(1, 0))
		return errStopped
	}
	return nil
}

var errStopped = errors.New("connection stopped (shutdown or taken over by a newer connection)")

func (s *Server) init() {
	if s.MaxConns <= 0 {
		s.MaxConns = 64
	}
	if s.HandshakeTimeout <= 0 {
		s.HandshakeTimeout = 10 * time.Second
	}
	if s.IdleTimeout <= 0 {
		s.IdleTimeout = 60 * time.Second
	}
	if s.SyncInterval <= 0 {
		s.SyncInterval = 500 * time.Millisecond
	}
	if s.SyncBytes <= 0 {
		// A connection holds what it received until it is durable (see
		// store.pending), so this bounds its memory: a 16 Mbit/s camera
		// reaches it about when SyncInterval fires anyway, and one
		// catching up after an outage holds 1 MiB, not 4, at a time.
		s.SyncBytes = 1 << 20
	}
	if s.MaxUnsynced <= 0 {
		s.MaxUnsynced = DefaultMaxUnsynced
	}
	if s.RetryInterval <= 0 {
		s.RetryInterval = 2 * time.Second
	}
	if s.Limits.MaxFrame <= 0 {
		s.Limits.MaxFrame = wire.DefaultLimits.MaxFrame
	}
	if s.Limits.MaxControl <= 0 {
		s.Limits.MaxControl = wire.DefaultLimits.MaxControl
	}
	if s.payloads == nil {
		s.payloads = &bufpool.Payloads
	}
	s.sinkV = s.Sink
	if s.sinkV == nil {
		s.sinkV = sink.AnnexB{}
	}
	s.log = s.Logger
	if s.log == nil {
		s.log = slog.Default()
	}
	s.streams = map[streamKey]*stream{}
	s.conns = map[*conn]struct{}{}
	s.stopped = make(chan struct{})
	s.epoch = s.now()
}

// ListenAndServe listens on addr (e.g. ":10401") and calls Serve.
func (s *Server) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Serve scans Dir for recordings left by an earlier run, then accepts
// connections on ln until ctx is cancelled. It then stops accepting,
// stops every connection, fsyncs what has arrived (unfinished files stay
// .partial, resumable) and returns nil. It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.init()
	defer ln.Close()
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return fmt.Errorf("recording folder: %w", err)
	}
	if err := s.scan(); err != nil {
		return err
	}
	s.log.Info("listening", "addr", ln.Addr().String(), "dir", s.Dir, "format", s.sinkV.Ext(), "auth", s.Key != nil)

	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	if s.DiagnoseAfter > 0 {
		t := time.AfterFunc(s.DiagnoseAfter, func() {
			if !s.ever.Load() && ctx.Err() == nil {
				out := s.DiagnoseOut
				if out == nil {
					out = os.Stderr
				}
				fmt.Fprint(out, s.diagnosis(ln.Addr()))
			}
		})
		defer t.Stop()
	}

	var err error
	retry := backoff.Backoff{Min: 5 * time.Millisecond, Max: time.Second}
	for {
		c, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() != nil {
				break
			}
			if errors.Is(aerr, net.ErrClosed) {
				err = aerr
				break
			}
			// Out of file descriptors and the like: back off, never spin.
			delay := retry.Next(0)
			s.log.Warn("accept", "err", aerr, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		retry.Reset()
		s.ever.Store(true)
		// Reads that do not wake the runtime's sysmon: at camera pace
		// every frame finds the receiver idle (see internal/rawio).
		c = rawio.Conn(c)
		cc := &conn{c: c, stop: make(chan struct{})}
		cc.st.Peer = c.RemoteAddr().String()
		cc.st.Since = time.Now()
		cc.st.TempMilliC = wire.TempUnknown
		if !s.admit(cc) {
			c.Close()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, cc)
				s.mu.Unlock()
			}()
			defer c.Close()
			s.serveConn(cc)
		}()
	}

	s.mu.Lock()
	for cc := range s.conns {
		cc.kick()
	}
	s.mu.Unlock()
	s.wg.Wait()
	close(s.stopped)
	s.log.Info("stopped; everything received is fsynced")
	return err
}

// serveConn tells raw from framed by the first bytes: a framed sender
// starts with wire.Magic, raw H.264 with a zero byte, so the first byte
// that differs from Magic decides.
func (s *Server) serveConn(cc *conn) {
	log := s.log.With("peer", cc.st.Peer)
	if err := cc.setReadDeadline(s.HandshakeTimeout); err != nil {
		return
	}
	br := bufio.NewReaderSize(cc.c, 64<<10)
	var head []byte
	var err error
	for n := 1; n <= wire.PreambleLen; n++ {
		head, err = br.Peek(n)
		if err != nil || !wire.IsMagicPrefix(head) {
			break
		}
	}
	switch {
	case len(head) == 0:
		log.Info("connection closed before sending anything", "err", errText(err))
		return
	case !wire.IsMagicPrefix(head), err == io.EOF && len(head) < wire.PreambleLen:
		// Not the magic, or closed while the bytes still matched it (a
		// raw stream shorter than the magic is still a recording).
		if s.rawRefused(cc, log) {
			return
		}
		s.serveRaw(cc, br, log)
		return
	case err != nil && len(head) < wire.PreambleLen:
		log.Warn("connection closed: handshake timeout or error in the preamble", "bytes", len(head), "err", errText(err))
		return
	}
	s.serveFramed(cc, br, log)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (s *Server) finished(camera, path string) {
	if s.OnFile != nil {
		s.OnFile(camera, path)
	}
}

// Status describes one connection for the console.
type Status struct {
	Camera  string    // camera name, or raw-<address>
	Peer    string    // remote address
	Mode    string    // "raw" or "framed"
	Since   time.Time // connected at
	Bytes   uint64    // payload bytes stored by this connection
	Frames  uint64    // frames received by this connection (framed)
	File    string    // file being written, "" between segments
	Files   int       // files finished by this connection
	LastAck uint64    // last acknowledged seq (framed)
	Gaps    uint64    // Gap records (frames the camera dropped)
	Error   string    // current storage error (e.g. disk full), "" when fine

	LastAckTime time.Time // when LastAck was sent
	// From the camera's last Stats record (framed only).
	BufferUsed, BufferSize uint64
	TempMilliC             int32 // wire.TempUnknown when unknown
}

type status struct {
	mu sync.Mutex
	Status
}

func (st *status) update(f func(*Status)) {
	st.mu.Lock()
	f(&st.Status)
	st.mu.Unlock()
}

// CameraStatus returns the status of camera's newest connection, if it
// has one.
func (s *Server) CameraStatus(camera string) (Status, bool) {
	var best Status
	found := false
	for _, st := range s.Status() {
		if st.Camera == camera && (!found || st.Since.After(best.Since)) {
			best, found = st, true
		}
	}
	return best, found
}

// Status returns a snapshot of every open connection, sorted by camera.
func (s *Server) Status() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, 0, len(s.conns))
	for cc := range s.conns {
		cc.st.mu.Lock()
		if cc.st.Mode != "" {
			out = append(out, cc.st.Status)
		}
		cc.st.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Camera != out[j].Camera {
			return out[i].Camera < out[j].Camera
		}
		return out[i].Since.Before(out[j].Since)
	})
	return out
}
