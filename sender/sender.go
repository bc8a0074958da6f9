// Package sender is the camera's side of the wire protocol: it holds every
// captured access unit in a bounded RAM buffer until the receiver says it
// is on disk, reconnects and resumes after any network trouble, and when
// the buffer overflows drops the oldest whole GOPs and says so with a Gap.
//
// The capture goroutine calls Frame, EndSegment and Log; they never block
// on the network. Run owns the connection; Frame and EndSegment write
// what they queued to it themselves when nobody else is writing, with
// one writev that never waits (write-through, see outlet in writer.go). Records move through three
// stages, all in one queue ordered by sequence number:
//
//	acked ─┤ written (in flight, pinned) │ unwritten (droppable) ├─ newest
//
// Only unwritten records are ever dropped: those written on the current
// (or last) connection may already be at the receiver, and dropping them
// could leave it with half a Gap. Written-but-unacked bytes are capped at
// half the buffer, so the other half always absorbs an outage.
//
// Rule the receiver relies on: after Welcome{Acked: X} the next sequenced
// record starts at X+1 (a Gap's First, or a Frame's or SegmentEnd's Seq),
// and every following record starts right after the previous one's Seq.
// A Gap never overlaps what the receiver already has, provided Welcome.Acked
// is the receiver's last accepted Seq with nothing beyond it kept (an older
// connection of the same stream closed first). A SegmentEnd may follow a
// Gap that swallowed all of its segment's frames.
//
// Shutdown: stop the capture, Drain with a deadline, cancel Run's context,
// then read the final Counters (the recorder prints them, with its own
// additions, as the camera's summary line).
//
// Files by job: sender.go is the API (Frame, EndSegment, Log, Drain,
// Counters); queue.go the record queue and what acks and a Welcome do to
// it; drop.go the overflow rule; pool.go the recycled payload copies;
// run.go the reconnect loop, the ack reader and the ack-stall check;
// handshake.go Hello to Welcome; writer.go batches and one writev each,
// by the writer goroutine or write-through; writev_linux.go the
// write-through's non-blocking writev.
package sender

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/camwire/camwire/capture"
	"github.com/camwire/camwire/internal/backoff"
	"github.com/camwire/camwire/segment"
	"github.com/camwire/camwire/wire"
)

// Config configures a Sender. Zero fields take the defaults named.
type Config struct {
	Addr        string        // receiver host:port
	Hello       wire.Hello    // sent on every connection; StreamID fixed for the run
	Key         []byte        // shared key; nil or empty for none
	BufferBytes int           // RAM bound on buffered records; 0 means 64 MiB
	Logger      *slog.Logger  // nil means slog.Default()
	StatsEvery  time.Duration // Stats period; 0 means 5 s. Also keeps an idle connection alive.
	AckTimeout  time.Duration // reconnect when data is outstanding and no ack came for this long; 0 means 10 s

	// Dial opens a connection; nil means a net.Dialer with a 5 s timeout
	// and TCP keepalive (idle 5 s, 3 probes 2 s apart). Tests inject.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
	// Temp reads the SoC temperature; nil reads thermal_zone0.
	Temp func() (milliC int32, ok bool)
	// Report, if set, returns the boot report (wire.BootReport), sent
	// once a receiver that knows it is reached (see report.go); it is
	// called once, at the first such connection.
	Report func() string
	// Clock reads the capture clock: the clock the frames' timeUS are
	// stamped with. The sender answers the receiver's pings with it
	// (wire.Clock), which is how the receiver maps capture times to its
	// wall clock. nil means capture.Monotonic, the clock every camwire
	// source stamps with. Tests inject a skewed clock.
	Clock func() time.Duration
}

// DefaultBufferBytes is 32 s of 16 Mbit/s video: it rides out a cable
// pull or a laptop restart with room to spare on a Pi with ~280 MB free.
const DefaultBufferBytes = 64 << 20

// Backoff between connection attempts: short first, because most outages
// are a replugged cable, and capped so a returning laptop is found fast. A
// connection that got past its handshake and lasted maxBackoff was a
// working one: the next outage starts at minBackoff again.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// maxLogs bounds Log messages queued while the receiver is unreachable;
// the oldest go first and the count of lost ones is sent instead.
const maxLogs = 64

// Counters is a snapshot of the sender's progress. Frame counts are video
// frames; records that are not frames do not count.
type Counters struct {
	Captured   uint64    // frames given to Frame
	Sent       uint64    // frames handed to a connection; a resend counts again
	Acked      uint64    // frames the receiver acknowledged as stored
	Dropped    uint64    // frames lost to buffer overflow, all reported in Gaps
	BufferUsed int       // bytes held for (re)sending, record overhead included
	BufferSize int       // the bound on BufferUsed
	Connected  bool      // a connection is past its Welcome
	Connects   uint64    // connections that reached Welcome
	LastAck    time.Time // when the last acknowledgement advanced; zero if never
}

// String formats c as a summary line, "captured=N sent=N acked=N
// dropped=N", with the sender's counts alone. The camera's own summary
// line (the recorder's last output) has this form but is not this string:
// the recorder adds the access units from before the first keyframe,
// which never reach the sender, to both captured and dropped. String is
// for logs and for tests of the sender.
func (c Counters) String() string {
	return fmt.Sprintf("captured=%d sent=%d acked=%d dropped=%d", c.Captured, c.Sent, c.Acked, c.Dropped)
}

// Sender buffers records and sends them to one receiver. Frame,
// EndSegment, Log, Drain and Counters are safe to call from any goroutine,
// before, during and after Run.
type Sender struct {
	cfg    Config
	log    *slog.Logger
	window int // bound on written-but-unacked bytes

	// Test seams.
	sleep            func(ctx context.Context, d time.Duration) bool
	retry            backoff.Backoff // pauses between connections; Run's own
	writeTimeout     time.Duration
	handshakeTimeout time.Duration

	copyAbove int  // FrameAU copies AUs of bigger blocks: BufferBytes/minBlocks
	pool      pool // recycled access-unit copies; own lock, taken after mu
	running   atomic.Bool
	wake      chan struct{} // capacity 1: something new for the writer
	redial    chan struct{} // capacity 1: Redial was called

	mu        sync.Mutex
	q         ring
	nextSeq   uint64 // next sequence number to assign; starts at 1
	acked     uint64 // highest Seq the receiver acknowledged
	written   uint64 // highest Seq handed to the current or last connection
	wi        int    // queue index of the first record not yet written
	used      int    // bytes of all queued records
	pinned    int    // bytes of q[:wi], written and unacked
	skipToKey bool   // the GOP being captured lost its head: drop until a keyframe
	keep      []rec  // scratch for drop
	logs      []wire.Log
	logsLost  int
	reply     *wire.Clock // answer to the last Ack's ping, OutUS still to stamp
	c         Counters
	progress  time.Time     // last ack progress, or when data became outstanding
	ackCh     chan struct{} // closed and replaced when acked advances
	changed   chan struct{} // closed and replaced when Counters change in a way watchers show (Changed)
	peerMinor uint8         // the current connection's receiver minor version (Challenge.Minor)
	conn      net.Conn      // the current connection, nil between sessions (AddrGone)
	out       *outlet       // the current connection's writing side once resumed; nil between sessions

	rep report // boot report, report.go
}

// New checks cfg and returns a Sender that buffers from now on; call Run to
// send.
func New(cfg Config) (*Sender, error) {
	if err := cfg.Hello.Validate(); err != nil {
		return nil, fmt.Errorf("sender: hello: %w", err)
	}
	if cfg.Hello.StreamID == ([wire.StreamIDLen]byte{}) {
		// A fixed ID would make the receiver resume a previous run's
		// stream with this run's sequence numbers.
		return nil, errors.New("sender: hello: zero StreamID; make a random one per run (uuid.New())")
	}
	if cfg.Addr == "" {
		return nil, errors.New("sender: no receiver address")
	}
	if cfg.BufferBytes < 0 {
		return nil, fmt.Errorf("sender: buffer of %d bytes", cfg.BufferBytes)
	}
	if cfg.BufferBytes == 0 {
		cfg.BufferBytes = DefaultBufferBytes
	}
	if cfg.StatsEvery <= 0 {
		cfg.StatsEvery = 5 * time.Second
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Dial == nil {
		d := &net.Dialer{
			Timeout:         5 * time.Second,
			KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 5 * time.Second, Interval: 2 * time.Second, Count: 3},
		}
		cfg.Dial = func(ctx context.Context, addr string) (net.Conn, error) {
			return d.DialContext(ctx, "tcp", addr)
		}
	}
	if cfg.Temp == nil {
		cfg.Temp = thermalZone0
	}
	if cfg.Clock == nil {
		cfg.Clock = capture.Monotonic
	}
	s := &Sender{
		cfg:              cfg,
		log:              cfg.Logger.With("receiver", cfg.Addr),
		window:           cfg.BufferBytes / 2,
		copyAbove:        cfg.BufferBytes / minBlocks,
		sleep:            backoff.Sleep,
		retry:            backoff.Backoff{Min: minBackoff, Max: maxBackoff, Stable: maxBackoff},
		writeTimeout:     10 * time.Second,
		handshakeTimeout: 10 * time.Second,
		wake:             make(chan struct{}, 1),
		redial:           make(chan struct{}, 1),
		nextSeq:          1,
		ackCh:            make(chan struct{}),
		changed:          make(chan struct{}),
		rep:              report{ready: make(chan struct{}), stored: make(chan struct{})},
	}
	s.c.BufferSize = cfg.BufferBytes
	s.pool = pool{limit: cfg.BufferBytes / 16, bufs: make([][]byte, 0, poolEntries)}
	return s, nil
}

// clockUS reads the capture clock in µs, the unit of wire.Frame.TimeUS.
func (s *Sender) clockUS() int64 { return s.cfg.Clock().Microseconds() }

// Frame queues one access unit. It copies au (the caller may reuse it at
// once) and never waits for the network: when the buffer is full it drops
// the oldest unsent GOPs instead.
func (s *Sender) Frame(segment uint32, timeUS int64, key bool, au []byte) {
	s.frame(segment, timeUS, key, s.copyAU(au), nil, nil, true)
}

// copyAU returns the sender's own copy of au, recycled through the pool.
// The copy is made outside the lock so the writer is never held up by a
// memmove; append, not make: its cap shows the allocator's rounding.
func (s *Sender) copyAU(au []byte) []byte {
	p := s.pool.get(len(au))
	if p == nil {
		return append([]byte(nil), au...)
	}
	copy(p, au)
	return p
}

// FrameAU queues au as Frame does, but takes it over instead of copying
// it: the caller must not touch au after. The sender keeps au.Data until
// the receiver has stored it, then releases au.Block (an au without a
// Block is simply dropped). Held blocks count in full against the buffer
// bound. au.NALs, when set, goes to a receiver of 1.3 or later as the
// frame's NAL table (wire.NALTable), so it does not search the payload.
//
// Except when au.Block is big against that bound (more than an eighth of
// it: a buffer under 8 MiB with the Splitter's 1 MiB blocks): then FrameAU
// copies au.Data, as Frame does, and releases the block at once. A block
// pins its whole size for its smallest frame, and the newest block,
// which the Splitter is still filling, counts in full from its first
// frame, so a buffer of a few blocks would drop nearly everything (a
// 1 MiB buffer dropped every frame of 66 KB, GOP 30, even with a healthy
// receiver: the first frame alone exceeded the bound). With 8 blocks or
// more, the at most two blocks not yet full cost a quarter of the buffer
// at worst, and the copy is saved. The NAL table, which lies in the
// block too, is then copied as well (a few dozen bytes).
func (s *Sender) FrameAU(seg uint32, au segment.AU) {
	if au.Block != nil && au.Block.Size() > s.copyAbove {
		p := s.copyAU(au.Data)
		nals := slices.Clone(au.NALs)
		au.Release()
		s.frame(seg, au.Time.Microseconds(), au.Key, p, nals, nil, true)
		return
	}
	s.frame(seg, au.Time.Microseconds(), au.Key, au.Data, au.NALs, au.Block, false)
}

// minBlocks is how many of its blocks the buffer bound must hold for
// FrameAU to keep an access unit in its block rather than copy it.
const minBlocks = 8

// frame queues p, which the sender owns (with a reference to blk, if not
// nil; copied: Frame's copy from the pool), and lets the writer know.
func (s *Sender) frame(seg uint32, timeUS int64, key bool, p []byte, nals []uint32, blk *segment.Block, copied bool) {
	s.mu.Lock()
	s.c.Captured++
	seq := s.nextSeq
	s.nextSeq++
	r := rec{payload: p, nals: nals, blk: blk, copied: copied, seq: seq, timeUS: timeUS, segment: seg, kind: kindFrame, key: key}
	if s.skipToKey && !key {
		// The GOP's head is gone; this frame cannot be decoded.
		s.release(&r)
		s.c.Dropped++
		s.appendGap(seq)
	} else {
		s.skipToKey = false
		s.queue(r)
	}
	s.enforce()
	s.send()
}

// EndSegment queues the end of segment after frames frames; the receiver
// closes that file when it gets there.
func (s *Sender) EndSegment(segment uint32, frames uint32) {
	s.mu.Lock()
	r := rec{seq: s.nextSeq, segment: segment, frames: frames, kind: kindSegmentEnd}
	s.nextSeq++
	s.queue(r)
	s.enforce()
	s.send()
}

// send unlocks s.mu and sends what was just queued: by write-through
// when nobody is writing (see outlet), else through the writer
// goroutine.
func (s *Sender) send() {
	o := s.claimThrough()
	s.mu.Unlock()
	if o != nil {
		s.writeThrough(o)
		return
	}
	s.poke()
}

// Log queues a message for the receiver's log (wire.LevelInfo, LevelWarn,
// LevelError). Best effort: it is not acknowledged, and while the receiver
// is unreachable only the newest 64 are kept.
func (s *Sender) Log(level uint8, msg string) {
	s.mu.Lock()
	if len(s.logs) == maxLogs {
		copy(s.logs, s.logs[1:])
		s.logs = s.logs[:maxLogs-1]
		s.logsLost++
	}
	s.logs = append(s.logs, wire.Log{Level: level, Message: msg})
	s.mu.Unlock()
	s.poke()
}

// Drain waits until every sequenced record queued so far is acknowledged
// (or dropped into an acknowledged Gap). It returns ctx's error if ctx ends
// first. Run must be running for anything to drain.
func (s *Sender) Drain(ctx context.Context) error {
	s.mu.Lock()
	target := s.nextSeq - 1
	s.mu.Unlock()
	for {
		s.mu.Lock()
		done, ch := s.acked >= target, s.ackCh
		s.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Counters returns a snapshot.
func (s *Sender) Counters() Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.c
	c.BufferUsed = s.used
	return c
}

// Changed returns a channel that is closed at the next change a watcher
// of Counters shows: a connection made or lost, the first frame handed
// to a connection, the first acknowledgement, and the first after a
// pause of a second or more (not every one: Acked and LastAck move at
// every ack without a wake-up; a watcher of those polls). Take it before
// reading Counters, so no change falls between the two.
func (s *Sender) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// changedLocked wakes the Changed watchers; s.mu is held.
func (s *Sender) changedLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// poke tells the writer there is something new, without blocking.
func (s *Sender) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// thermalZone0 reads the SoC temperature the way the Pi's kernel exposes
// it: millidegrees Celsius as decimal text.
func thermalZone0() (int32, bool) { return readMilliC("/sys/class/thermal/thermal_zone0/temp") }

func readMilliC(path string) (int32, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 32)
	if err != nil {
		return 0, false
	}
	return int32(v), true
}
