package recv

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/camwire/camwire/sink"
	"github.com/camwire/camwire/wire"
)

// store is one stream's segment store: its journal, the last durable
// snapshot, the segment file being written and the records accepted but
// not yet durable. It knows nothing of connections: the session hands it
// sequenced records, asks it to sync, and hears through the hooks what
// became durable, so it can be tested with a fake sink and no TCP.
type store struct {
	dir       string // camera folder
	hello     wire.Hello
	sink      sink.Sink
	log       *slog.Logger
	syncBytes int64 // replay syncs after this many bytes, as the session does

	// onDurable, if set, is called with every new durable snapshot: the
	// records up to its Seq may be acknowledged.
	onDurable func(snapshot)
	// onFile, if set, is called with the final path of every finished
	// segment file, after its journal entry.
	onFile func(path string)
	// release, if set, is called with every pending record once it is
	// durable (the session reuses its payload buffer).
	release func(wire.Record)
	// wall maps a frame's capture time to the wall clock for the name
	// and start of a new file; nil means the time it is created.
	wall func(timeUS int64) time.Time
	// frameTime is sink.SegmentInfo.Wall; nil for none.
	frameTime func(timeUS int64) (time.Time, bool)

	j        *journal
	d        snapshot // last durable snapshot
	w        sink.SegmentWriter
	open     *openSegment // segment w writes; Size and State are stale
	created  string       // file created but not yet journaled
	applied  uint64       // highest seq applied to files
	gaps     uint64
	files    int
	pending  []wire.Record // accepted, not yet durable: replayed after a write error
	unsynced int64
	dirty    bool
	tailDone bool // bytes past the journal were moved aside once
	// For the console's "10:00 min saved": capture times of the open
	// segment's latest frame (0: none this run), and the
	// finishing segment's start.
	lastUS int64
	open0  time.Time
}

// load opens the stream's journal and takes its last snapshot as the
// durable state (a fresh state for a new stream).
func (st *store) load(sid string) error {
	jdir := filepath.Join(st.dir, stateDir)
	if err := os.MkdirAll(jdir, 0o755); err != nil {
		return err
	}
	j, last, ok, err := openJournal(filepath.Join(jdir, sid+journalExt))
	if err != nil {
		return err
	}
	st.j = j
	if !ok {
		h := st.hello
		last = snapshot{Camera: st.hello.Name, Stream: sid, Hello: &h}
	}
	st.d = last
	st.applied = last.Seq
	return nil
}

// close closes the journal.
func (st *store) close() error { return st.j.close() }

// add takes a new sequenced record: it stays pending until it is
// durable, and is applied to the files now.
func (st *store) add(r wire.Record) error {
	st.pending = append(st.pending, r)
	return st.apply(r)
}

// due reports whether enough bytes were written since the last sync that
// the next one should not wait for the timer.
func (st *store) due() bool { return st.unsynced >= st.syncBytes }

// apply stores one sequenced record. It is also how pending records are
// replayed after a storage error, so it depends only on the store's
// file state, never on the connection.
func (st *store) apply(rec wire.Record) error {
	switch r := rec.(type) {
	case wire.Frame:
		if st.w != nil && st.open.Segment != r.Segment {
			st.log.Warn("segment ended without a segment-end record; finishing it",
				"segment", st.open.Segment, "next_segment", r.Segment, "seq", r.Seq)
			if err := st.finish(); err != nil {
				return err
			}
		}
		if st.w == nil {
			if err := st.create(r.Segment, r.TimeUS); err != nil {
				return err
			}
		}
		if err := st.w.WriteFrame(r); err != nil {
			return err
		}
		st.lastUS = r.TimeUS
		st.unsynced += int64(len(r.Payload))
	case wire.SegmentEnd:
		st.applied = r.Seq
		if st.w != nil && st.open.Segment == r.Segment {
			return st.finish()
		}
		open := "none"
		if st.open != nil {
			open = fmt.Sprint(st.open.Segment)
		}
		if st.gaps > 0 {
			// Expected after a gap: the camera dropped that segment's
			// frames, and the gap was logged as a warning already.
			st.log.Info("segment-end for a segment whose frames the camera dropped", "segment", r.Segment, "open", open, "seq", r.Seq)
			break
		}
		st.log.Warn("segment-end for a segment that is not open; ignored", "segment", r.Segment, "open", open, "seq", r.Seq)
	case wire.Gap:
		st.gaps++
		st.log.Warn("camera dropped records (gap)", "first", r.First, "last", r.Seq, "frames", r.Frames)
	}
	st.applied = wire.SeqOf(rec)
	st.dirty = true
	return nil
}

func (st *store) path(o *openSegment) string { return filepath.Join(st.dir, o.File) }

// info describes segment o to the sink. Payloads are Stable: a record
// stays in pending, its payload untouched, until a Sync made it durable
// (release hands the buffer back only then), so the sink may write
// payloads from where they lie.
func (st *store) info(o *openSegment) sink.SegmentInfo {
	return sink.SegmentInfo{Hello: st.hello, Segment: o.Segment, Start: o.Start, Wall: st.frameTime, Stable: true}
}

// create starts a new .partial file for segment seg, whose first frame
// was captured at timeUS, and journals it before any frame goes in, so
// after a crash its bytes are accounted for. The file is named by that
// frame's capture time (see wall).
func (st *store) create(seg uint32, timeUS int64) error {
	start := time.Now()
	if st.wall != nil {
		start = st.wall(timeUS)
	}
	base, err := fileBase(start, st.sink.Ext())
	if err != nil {
		return err
	}
	o := &openSegment{Segment: seg, File: base + partialExt, Start: start.UTC()}
	p, err := within(st.dir, o.File)
	if err != nil {
		return err
	}
	w, err := st.sink.Create(p, st.info(o))
	if err != nil {
		return fmt.Errorf("create %s: %w", p, err)
	}
	st.created = p
	st.w, st.open = w, o
	if err := syncDir(p); err != nil {
		return err
	}
	snap := st.d
	oc := *o
	snap.Open = &oc
	snap.Time = time.Now().UTC()
	if err := st.j.append(snap); err != nil {
		return err
	}
	st.created = ""
	st.d = snap
	st.lastUS = timeUS
	st.log.Info("segment started", "segment", seg, "file", p,
		ConsoleKey, st.hello.Name+": recording "+clockOf(start))
	return nil
}

// finish completes the open segment: fsync, the format's trailer, rename
// to its final name, then a journal entry. Only after that entry is the
// segment's last seq acknowledged, so a crash anywhere before leaves a
// .partial that resumes.
func (st *store) finish() error {
	p := st.path(st.open)
	if _, _, err := st.w.Sync(); err != nil {
		return err
	}
	st.open0 = st.open.Start
	w := st.w
	st.w = nil
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
	snap := st.d
	snap.Seq, snap.Gaps, snap.Files = st.applied, st.gaps, st.files+1
	snap.Open = nil
	snap.Time = time.Now().UTC()
	if err := st.j.append(snap); err != nil {
		return err
	}
	st.files++
	st.open = nil
	st.durable(snap)
	args := []any{"file", final}
	if fi, err := os.Stat(final); err == nil {
		line := st.hello.Name + ": "
		if st.wall != nil && st.lastUS != 0 {
			dur := st.wall(st.lastUS).Sub(st.open0)
			args = append(args, "duration", dur.Round(time.Millisecond))
			line += minutes(dur) + ", "
		}
		args = append(args, "bytes", fi.Size(), ConsoleKey, line+Size(fi.Size())+" saved")
	}
	st.log.Info("segment complete", args...)
	if st.onFile != nil {
		st.onFile(final)
	}
	return nil
}

// sync makes everything applied durable and journals it; nothing to do
// when nothing was applied since the last durable snapshot.
func (st *store) sync() error {
	if !st.dirty {
		return nil
	}
	snap := st.d
	snap.Seq, snap.Gaps, snap.Files = st.applied, st.gaps, st.files
	snap.Time = time.Now().UTC()
	if st.w != nil {
		size, state, err := st.w.Sync()
		if err != nil {
			return err
		}
		o := *st.open
		o.Size, o.State = size, state
		snap.Open = &o
	}
	if err := st.j.append(snap); err != nil {
		return err
	}
	st.durable(snap)
	return nil
}

// durable records snap as the new durable state, forgets the records it
// covers and tells onDurable.
func (st *store) durable(snap snapshot) {
	st.d = snap
	st.dirty = st.applied > snap.Seq
	st.unsynced = 0
	i := 0
	for i < len(st.pending) && wire.SeqOf(st.pending[i]) <= snap.Seq {
		if st.release != nil {
			st.release(st.pending[i])
		}
		st.pending[i] = nil
		i++
	}
	if i == len(st.pending) {
		// Kept for the next sync's records (every element is nil): a
		// fresh slice regrew from nothing at every sync, five
		// allocations a sync's worth of frames.
		st.pending = st.pending[:0]
	} else {
		st.pending = st.pending[i:]
	}
	if st.onDurable != nil {
		st.onDurable(snap)
	}
}

// replay restores the files to the last durable state and applies the
// pending records again, syncing after every syncBytes and at the end:
// the way back after a storage error.
func (st *store) replay() error {
	if err := st.restore(); err != nil {
		return err
	}
	// durable shifts pending while the loop runs.
	for _, r := range slices.Clone(st.pending) {
		if err := st.apply(r); err != nil {
			return err
		}
		if st.due() {
			if err := st.sync(); err != nil {
				return err
			}
		}
	}
	return st.sync()
}

// closeWriter closes the open segment's writer, if any, without
// finishing it: the file stays .partial and resumable.
func (st *store) closeWriter() error {
	if st.w == nil {
		return nil
	}
	err := st.w.Close()
	st.w = nil
	return err
}

// drop forgets the pending records and releases them: the session ends
// with them not durable, and the camera, which has no acknowledgement for
// them, sends them again. The writer must be closed first, since a Stable
// sink may still refer to their payloads.
func (st *store) drop() {
	for i, r := range st.pending {
		if st.release != nil {
			st.release(r)
		}
		st.pending[i] = nil
	}
	st.pending = nil
}

// restore closes the writer and brings the open segment's file back to
// exactly its durable size, then reopens it. The first time (at connect),
// bytes past that size come from an earlier connection or run and are
// moved to a side file; after a write error in this session they are
// this session's own unacknowledged writes, still held in pending, and
// are cut off before being written again.
func (st *store) restore() (err error) {
	defer func() {
		if err == nil {
			st.tailDone = true
		}
	}()
	st.closeWriter()
	if st.created != "" {
		if fi, err := os.Stat(st.created); err == nil && fi.Size() == 0 {
			os.Remove(st.created)
		} else if err == nil {
			st.log.Warn("keeping a file that was never journaled", "file", st.created)
		}
		st.created = ""
	}
	st.applied, st.gaps, st.files = st.d.Seq, st.d.Gaps, st.d.Files
	st.unsynced, st.dirty, st.open = 0, false, nil
	o := st.d.Open
	if o == nil {
		return nil
	}
	p, perr := within(st.dir, o.File)
	if perr != nil {
		return perr
	}
	fi, err := os.Stat(p)
	if errors.Is(err, os.ErrNotExist) {
		final := strings.TrimSuffix(p, partialExt)
		if _, ferr := os.Stat(final); ferr == nil {
			// Finished and renamed, but the journal entry saying so was
			// lost; the sender resends the segment-end.
			st.log.Warn("segment was renamed but not journaled; reopening it", "file", final)
			if err := os.Rename(final, p); err != nil {
				return err
			}
			fi, err = os.Stat(p)
		}
	}
	switch {
	case errors.Is(err, os.ErrNotExist):
		st.log.Error("journaled file is missing; the segment continues in a new file", "file", p)
		st.d.Open = nil
		st.dirty = true
		return nil
	case err != nil:
		return err
	case fi.Size() < o.Size:
		st.log.Error("file is shorter than journaled (changed outside camwire-recv?); kept as is, the segment continues in a new file",
			"file", p, "size", fi.Size(), "journaled", o.Size)
		st.d.Open = nil
		st.dirty = true
		return nil
	case fi.Size() > o.Size && !st.tailDone:
		side, merr := moveTail(p, o.Size)
		if merr != nil {
			return merr
		}
		st.log.Warn("moved unacknowledged bytes aside; the camera sends them again", "file", p, "kept_in", side, "bytes", fi.Size()-o.Size)
	case fi.Size() > o.Size:
		if err := os.Truncate(p, o.Size); err != nil {
			return fmt.Errorf("truncate %s: %w", p, err)
		}
	}
	if was, now := filepath.Ext(strings.TrimSuffix(o.File, partialExt)), st.sink.Ext(); was != now {
		// camwire-recv restarted with another -format (or a new
		// default): this sink cannot append to the other's file. The
		// file stays, playable up to its durable size; the rest of the
		// segment goes into a new file in the current format.
		st.log.Warn("segment was started in another file format; kept as it is, the segment continues in a new file",
			"file", p, "format", was, "now", now)
		st.d.Open = nil
		st.dirty = true
		return nil
	}
	w, err := st.sink.Reopen(p, st.info(o), o.Size, o.State)
	if err != nil {
		return fmt.Errorf("reopen %s: %w", p, err)
	}
	oc := *o
	st.w, st.open = w, &oc
	return nil
}
