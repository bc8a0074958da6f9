// Package mp4 stores camwire segments as fragmented MP4 (ISO BMFF): an
// init segment (ftyp+moov) and then one moof+mdat fragment per Sync. A file
// cut anywhere by a crash or a power loss plays up to its last complete
// fragment, and every acknowledged frame is in a complete fragment.
//
// The package also hands its building blocks (Timeline, InitSegment,
// Fragment) to the live view, so the browser sees the same timestamps as
// the recording.
package mp4

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/camwire/camwire/internal/gather"
	"github.com/camwire/camwire/sink"
	"github.com/camwire/camwire/wire"
)

// Sink writes fragmented MP4 segment files. The zero value is ready.
//
// A frame that cannot be an MP4 sample (it comes before the first
// keyframe with SPS/PPS, or is not H.264 Annex-B at all) is not an error:
// the receiver treats WriteFrame errors as storage failures and would stop
// acknowledging, stalling the camera over one odd frame. Such a frame is
// kept byte for byte in a 'free' box, which players skip, so nothing
// received is lost and the file stays valid; Undecodable counts them.
type Sink struct {
	// MaxFragment bounds how much a writer buffers between Syncs: when the
	// buffered frames span this many ticks, WriteFrame writes a fragment
	// (without fsync). Zero means one second, so a file holds a fragment
	// at least every second even if the caller syncs rarely.
	MaxFragment int64
	// MaxFragmentBytes bounds the buffered payload the same way; zero
	// means 8 MiB.
	MaxFragmentBytes int

	inits initCache
}

// initCache keeps the init segments a Sink made, by SPS and PPS. A
// camera's parameter sets rarely change, and each of its segments (one
// every few seconds, for every camera) would otherwise build the same
// ftyp+moov again: the SPS parsed and a dozen boxes marshalled through
// go-mp4's reflection, 2 % of the CPU of a receiver recording 128
// cameras (pprof, BenchmarkCameras/128).
type initCache struct {
	mu sync.Mutex
	m  map[string][]byte // by string(sps) + string(pps) + the SPS's length
}

// maxInits bounds initCache: past it the cache starts over.
const maxInits = 1024

// get returns InitSegment(sps, pps), a copy of its own (the caller sets
// the creation time in place).
func (c *initCache) get(sps, pps []byte) ([]byte, error) {
	k := string(sps) + string(pps) + string(binary.BigEndian.AppendUint32(nil, uint32(len(sps))))
	c.mu.Lock()
	init, ok := c.m[k]
	c.mu.Unlock()
	if !ok {
		var err error
		if init, err = InitSegment(sps, pps); err != nil {
			return nil, err
		}
		c.mu.Lock()
		if c.m == nil || len(c.m) >= maxInits {
			c.m = make(map[string][]byte)
		}
		c.m[k] = init
		c.mu.Unlock()
	}
	return append([]byte(nil), init...), nil
}

var _ sink.Sink = (*Sink)(nil)

// Ext implements sink.Sink.
func (*Sink) Ext() string { return ".mp4" }

// Create implements sink.Sink. The moov of the init segment waits for the
// first keyframe with the SPS and PPS it needs.
func (s *Sink) Create(path string, info sink.SegmentInfo) (sink.SegmentWriter, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("mp4: %w", err)
	}
	w := s.newWriter(f, info)
	w.st.Seq = 1
	return w, nil
}

// Reopen implements sink.Sink: it continues appending fragments to a file
// that a writer synced to exactly size bytes with the returned state.
func (s *Sink) Reopen(path string, info sink.SegmentInfo, size int64, state []byte) (sink.SegmentWriter, error) {
	st := writerState{Version: stateVersion, Seq: 1}
	switch {
	case len(state) == 0 && size != 0:
		return nil, fmt.Errorf("mp4: reopen %s: no state for %d synced bytes", path, size)
	case len(state) == 0:
		// Journaled at Create, before any Sync: it continues as if new.
	default:
		if err := json.Unmarshal(state, &st); err != nil {
			return nil, fmt.Errorf("mp4: reopen %s: bad state: %w", path, err)
		}
		if st.Version != stateVersion {
			return nil, fmt.Errorf("mp4: reopen %s: state version %d, want %d", path, st.Version, stateVersion)
		}
	}
	if (size == 0) != !st.FtypWritten || st.InitWritten && !st.FtypWritten {
		return nil, fmt.Errorf("mp4: reopen %s: size %d but state says ftyp written = %v, moov written = %v",
			path, size, st.FtypWritten, st.InitWritten)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("mp4: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("mp4: %w", err)
	}
	if fi.Size() != size {
		f.Close()
		return nil, fmt.Errorf("mp4: reopen %s: file is %d bytes, synced size was %d", path, fi.Size(), size)
	}
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("mp4: %w", err)
	}
	w := s.newWriter(f, info)
	w.st = st
	w.tl.st = st.Timeline
	w.size = size
	return w, nil
}

func (s *Sink) newWriter(f *os.File, info sink.SegmentInfo) *writer {
	w := &writer{f: f, tl: NewTimeline(info.Hello), inits: &s.inits, maxTicks: s.MaxFragment, maxBytes: s.MaxFragmentBytes,
		start: info.Start, wall: info.Wall, stable: info.Stable}
	if w.maxTicks <= 0 {
		w.maxTicks = TimeScale
	}
	if w.maxBytes <= 0 {
		w.maxBytes = 8 << 20
	}
	w.st.Version = stateVersion
	return w
}

// stateVersion changes when writerState's meaning does.
const stateVersion = 1

// writerState is the opaque state Sync returns: enough to append the next
// fragment exactly where the synced file ends.
type writerState struct {
	Version     int           `json:"v"`
	FtypWritten bool          `json:"ftyp"` // the file has begun
	InitWritten bool          `json:"init"` // the moov is written
	Undecodable int           `json:"undecodable"`
	Seq         uint32        `json:"seq"`  // next fragment's sequence number
	Next        int64         `json:"next"` // decode time where the next fragment starts
	Timeline    timelineState `json:"timeline"`
}

type writer struct {
	f       *os.File
	tl      *Timeline
	inits   *initCache // the Sink's
	st      writerState
	size    int64 // bytes written to f
	pending []Sample
	laid    []TimedSample // pending laid on the timeline, reused
	bytes   int
	mdat    []byte // the pending samples' AVCC back to back, reused
	head    []byte // moof+mdat header, reused
	// stable (sink.SegmentInfo.Stable): the pending samples' NAL units
	// stay where they lie in the caller's payloads, in nalus, and a
	// fragment is written with one gathered write of its header, each
	// unit's length prefix (from lens) and the unit, so no byte of video
	// is copied by hand; mdat is then unused and sizes holds each pending
	// sample's AVCC size.
	stable   bool
	nalus    [][]byte
	sizes    []uint32
	lens     []byte
	iov      [][]byte
	maxTicks int64
	maxBytes int
	err      error                                // sticky: after a failed write the file's tail is unknown
	start    time.Time                            // creation time for the moov
	wall     func(timeUS int64) (time.Time, bool) // capture times for prft; nil: none
	firstUS  int64                                // TimeUS of pending[0]
}

// WriteFrame implements sink.SegmentWriter.
func (w *writer) WriteFrame(f wire.Frame) error {
	if w.err != nil {
		return w.err
	}
	var s Sample
	var mdat []byte
	var nalus [][]byte
	var err error
	// With the sender's NAL table (1.3) the payload is not searched for
	// start codes; the table is checked first (see Timeline.split).
	if w.stable {
		s, nalus, _, err = w.tl.push(f.Payload, f.NALs, f.TimeUS)
	} else {
		s, mdat, _, err = w.tl.pushTo(w.mdat, f.Payload, f.NALs, f.TimeUS)
	}
	// A new SPS/PPS inside a segment is carried in band (samples keep
	// their parameter sets); the init segment keeps the first ones.
	var init []byte
	if err == nil && !w.st.InitWritten {
		sps, pps := w.tl.Params()
		init, err = w.inits.get(sps, pps)
	}
	if err != nil {
		return w.keepRaw(f.Payload)
	}
	if init != nil {
		if !w.start.IsZero() {
			SetCreationTime(init, w.start)
		}
		ftyp := boxLen(init)
		if w.st.FtypWritten {
			init = init[ftyp:]
		}
		if err := w.write(init); err != nil {
			return err
		}
		w.st.FtypWritten, w.st.InitWritten = true, true
	}
	if len(w.pending) == 0 {
		w.firstUS = f.TimeUS
	}
	if w.stable {
		size := 0
		for _, n := range nalus {
			size += 4 + len(n)
		}
		w.nalus = append(w.nalus, nalus...)
		w.sizes = append(w.sizes, uint32(size))
		w.bytes += size
	} else {
		w.mdat = mdat
		w.bytes += len(s.AVCC)
	}
	w.pending = append(w.pending, s)
	if s.DTS-w.pending[0].DTS >= w.maxTicks || w.bytes >= w.maxBytes {
		return w.flush()
	}
	return nil
}

// keepRaw stores an access unit that cannot be a sample in a 'free' box
// (ISO 14496-12 8.1.2: contents irrelevant, may be skipped), after the
// samples before it and after the ftyp, so the file stays valid.
func (w *writer) keepRaw(payload []byte) error {
	if err := w.flush(); err != nil {
		return err
	}
	var ftyp []byte
	if !w.st.FtypWritten {
		ftyp = ftypOnly()
	}
	b := make([]byte, 0, len(ftyp)+8+len(payload))
	b = append(b, ftyp...)
	b = binary.BigEndian.AppendUint32(b, uint32(8+len(payload)))
	b = append(b, "free"...)
	b = append(b, payload...)
	if err := w.write(b); err != nil {
		return err
	}
	w.st.FtypWritten = true
	w.st.Undecodable++
	return nil
}

// Undecodable is implemented by this package's segment writers.
type Undecodable interface {
	// Undecodable returns how many frames were kept only as raw bytes
	// because they could not be MP4 samples.
	Undecodable() int
}

// Undecodable returns how many frames were kept only as raw bytes
// because they could not be MP4 samples.
func (w *writer) Undecodable() int { return w.st.Undecodable }

// BadTables returns how many frames came with a NAL table that did not
// match their payload (each was searched instead; the file is the same).
func (w *writer) BadTables() int { return w.tl.BadTables() }

// ftypOnly is the ftyp box of every init segment InitSegment makes,
// written on its own when a file must begin before the first SPS/PPS.
// It is made on first use, not at package initialisation: building an
// init segment (SPS parse, mediacommon's marshaller) took 1,273
// allocations and 0.2 ms of every camwire-recv start (GODEBUG=inittrace=1),
// for a file that rarely needs it.
var ftypOnly = sync.OnceValue(func() []byte {
	// A Baseline 16×16 SPS and a PPS: any valid pair gives the same ftyp.
	init, err := InitSegment([]byte{0x67, 0x42, 0xc0, 0x0a, 0xd9, 0x1e, 0x84, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xc8, 0x3c, 0x48, 0x99, 0x20},
		[]byte{0x68, 0xcb, 0x83, 0xcb, 0x20})
	if err != nil {
		panic(err)
	}
	return init[:boxLen(init)]
})

// boxLen is the size field of the box b starts with.
func boxLen(b []byte) int { return int(binary.BigEndian.Uint32(b)) }

// flush writes the buffered samples as one fragment.
func (w *writer) flush() error {
	if w.err != nil {
		return w.err
	}
	if len(w.pending) == 0 {
		return nil
	}
	start := w.st.Next // 0 for the first fragment: the first frame is the origin
	samples, end := appendLaid(w.laid[:0], start, w.pending, w.tl.FrameTicks())
	w.laid = samples
	var sizes []uint32
	if w.stable {
		sizes = w.sizes
	}
	head, err := fragmentHeader(w.head[:0], w.st.Seq, uint64(start), samples, sizes)
	if err != nil {
		w.err = err
		return err
	}
	w.head = head
	var prft []byte
	if w.wall != nil {
		// Each fragment says when its first frame was captured.
		if t, ok := w.wall(w.firstUS); ok {
			prft = ProducerReferenceTime(t, uint64(start+int64(samples[0].PTSOffset)))
		}
	}
	if w.stable {
		err = w.gather(prft, head)
	} else {
		// The samples' AVCC is w.mdat, written as it lies: no copy into
		// a fragment buffer. Two writes a fragment (one a second), three
		// with its prft.
		if prft != nil {
			err = w.write(prft)
		}
		if err == nil {
			err = w.write(head)
		}
		if err == nil {
			err = w.write(w.mdat)
		}
	}
	if err != nil {
		return err
	}
	w.st.Seq++
	w.st.Next = end
	w.pending = w.pending[:0]
	w.laid = w.laid[:0]
	w.mdat = w.mdat[:0]
	clear(w.nalus) // the payloads go back to the caller
	w.nalus = w.nalus[:0]
	w.sizes = w.sizes[:0]
	w.bytes = 0
	return nil
}

// gather writes prft (if any), head and the pending NAL units, each after
// its 4-byte length, in one gathered write (see gather.Write).
func (w *writer) gather(prft, head []byte) error {
	w.lens = w.lens[:0]
	for _, n := range w.nalus {
		w.lens = binary.BigEndian.AppendUint32(w.lens, uint32(len(n)))
	}
	w.iov = w.iov[:0]
	if prft != nil {
		w.iov = append(w.iov, prft)
	}
	w.iov = append(w.iov, head)
	for i, n := range w.nalus {
		w.iov = append(w.iov, w.lens[4*i:4*i+4], n)
	}
	n, err := gather.Write(w.f, w.iov)
	clear(w.iov)
	w.size += n
	if err != nil {
		w.err = fmt.Errorf("mp4: %w", err)
		return w.err
	}
	return nil
}

func (w *writer) write(b []byte) error {
	n, err := w.f.Write(b)
	w.size += int64(n)
	if err != nil {
		w.err = fmt.Errorf("mp4: %w", err)
		return w.err
	}
	return nil
}

// Sync implements sink.SegmentWriter: every frame given so far goes into
// a fragment, then fsync.
func (w *writer) Sync() (int64, []byte, error) {
	if err := w.flush(); err != nil {
		return 0, nil, err
	}
	if err := w.f.Sync(); err != nil {
		w.err = fmt.Errorf("mp4: fsync: %w", err)
		return 0, nil, w.err
	}
	w.st.Timeline = w.tl.st
	state, err := json.Marshal(w.st)
	if err != nil {
		return 0, nil, fmt.Errorf("mp4: %w", err)
	}
	return w.size, state, nil
}

// Finish implements sink.SegmentWriter. The last fragment is complete, so
// the file needs no trailer; players read the fragments for duration and
// seeking.
func (w *writer) Finish() error {
	return w.Close()
}

// Close implements sink.SegmentWriter.
func (w *writer) Close() error {
	_, _, err := w.Sync()
	w.err = errClosed
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("mp4: %w", cerr)
	}
	return err
}

// errClosed is returned by a writer used after Finish or Close.
var errClosed = errors.New("mp4: writer is closed")
