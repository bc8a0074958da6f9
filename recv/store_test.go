package recv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/camwire/camwire/recv/recvtest"
	"github.com/camwire/camwire/sink"
	"github.com/camwire/camwire/wire"
)

// errDiskFull is the fake sink's injected write error.
var errDiskFull = errors.New("fake: no space left on device")

// fakeSink stores payloads back to back in a file, like the Annex-B sink,
// and fails WriteFrame or Sync while failWrites/failSyncs are positive
// (each failure counts one down): a disk that fills up and frees again,
// on demand and without a filesystem that fills.
type fakeSink struct {
	failWrites, failSyncs int
	// losePages: a failed Sync zeroes what was written since the last
	// good one, as a writeback error leaves the pages that never reached
	// the disk, and the next Sync succeeds, as Linux's fsync does once it
	// has reported the error.
	losePages bool
	reopened  []int64 // sizes Reopen was called with
}

func (s *fakeSink) Ext() string { return ".fake" }

func (s *fakeSink) Create(path string, _ sink.SegmentInfo) (sink.SegmentWriter, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return &fakeWriter{s: s, f: f}, nil
}

func (s *fakeSink) Reopen(path string, _ sink.SegmentInfo, size int64, _ []byte) (sink.SegmentWriter, error) {
	s.reopened = append(s.reopened, size)
	// The contract the store keeps: the file is exactly size bytes.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Size() != size {
		return nil, fmt.Errorf("fake: Reopen(%s, size %d): file is %d bytes", path, size, fi.Size())
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return &fakeWriter{s: s, f: f, size: size, synced: size}, nil
}

type fakeWriter struct {
	s      *fakeSink
	f      *os.File
	size   int64
	synced int64 // size at the last good Sync
}

func (w *fakeWriter) WriteFrame(f wire.Frame) error {
	if w.s.failWrites > 0 {
		w.s.failWrites--
		return errDiskFull
	}
	n, err := w.f.Write(f.Payload)
	w.size += int64(n)
	return err
}

func (w *fakeWriter) Sync() (int64, []byte, error) {
	if w.s.failSyncs > 0 {
		w.s.failSyncs--
		if w.s.losePages {
			if _, err := w.f.WriteAt(make([]byte, w.size-w.synced), w.synced); err != nil {
				return 0, nil, err
			}
		}
		return 0, nil, errDiskFull
	}
	if err := w.f.Sync(); err != nil {
		return 0, nil, err
	}
	w.synced = w.size
	return w.size, []byte("state"), nil
}

func (w *fakeWriter) Finish() error { return w.f.Close() }
func (w *fakeWriter) Close() error  { return w.f.Close() }

// storeRig is a store on a temporary camera folder, recording what its
// hooks were told.
type storeRig struct {
	*store
	acked    []uint64 // onDurable's Seqs
	files    []string // onFile's paths
	released int
}

func newStore(t *testing.T, dir string, sk sink.Sink, hello wire.Hello) *storeRig {
	t.Helper()
	r := &storeRig{}
	r.store = &store{
		dir: dir, hello: hello, sink: sk, syncBytes: 1 << 30,
		log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		onDurable: func(s snapshot) { r.acked = append(r.acked, s.Seq) },
		onFile:    func(p string) { r.files = append(r.files, p) },
		release:   func(wire.Record) { r.released++ },
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := r.load("0123456789abcdef"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.closeWriter(); r.close() })
	if err := r.restore(); err != nil {
		t.Fatalf("restore() = %v, want nil", err)
	}
	return r
}

// contents reads the files in order.
func contents(t *testing.T, paths []string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestStoreSegments: records in, one finished file per segment, each
// holding its frames; every segment end is made durable and reported.
func TestStoreSegments(t *testing.T) {
	st := recvtest.Script("cam", 7, 3, 10, 500, true, true)
	r := newStore(t, filepath.Join(t.TempDir(), "cam"), &fakeSink{}, st.Hello)
	for _, rec := range st.Records {
		if err := r.add(rec); err != nil {
			t.Fatalf("add(%s %d) = %v", rec.Type(), wire.SeqOf(rec), err)
		}
	}
	if err := r.sync(); err != nil {
		t.Fatalf("sync() = %v", err)
	}
	if diff := cmp.Diff(st.Want(), contents(t, r.files)); diff != "" {
		t.Errorf("finished files (-want +got):\n%s", diff)
	}
	if got, want := r.d.Seq, st.Last(); got != want {
		t.Errorf("durable seq = %d, want %d", got, want)
	}
	if got := r.acked[len(r.acked)-1]; got != st.Last() {
		t.Errorf("last onDurable seq = %d, want %d", got, st.Last())
	}
	if len(r.pending) != 0 {
		t.Errorf("%d records pending after the last sync, want 0", len(r.pending))
	}
	if got, want := r.released, len(st.Records); got != want {
		t.Errorf("released %d records, want every one of %d", got, want)
	}
	if r.d.Gaps != 1 || r.d.Files != 3 {
		t.Errorf("durable gaps, files = %d, %d; want 1, 3", r.d.Gaps, r.d.Files)
	}
}

// TestStoreReplaysAfterWriteError: a failed write or sync leaves the
// records pending and nothing new durable; replay cuts the file back and
// writes them again, so every frame lands once.
func TestStoreReplaysAfterWriteError(t *testing.T) {
	for _, tt := range []struct {
		name                  string
		failWrites, failSyncs int
	}{
		{"write fails", 1, 0},
		{"sync fails", 0, 1},
		{"replay fails too", 2, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st := recvtest.Script("cam", 3, 2, 20, 300, false, false)
			sk := &fakeSink{}
			r := newStore(t, filepath.Join(t.TempDir(), "cam"), sk, st.Hello)
			const cut = 12                           // inside the first segment
			for _, rec := range st.Records[:cut-2] { // durable
				if err := r.add(rec); err != nil {
					t.Fatal(err)
				}
			}
			if err := r.sync(); err != nil {
				t.Fatal(err)
			}
			durable := r.d.Seq
			// One frame written but not durable, then the disk fills:
			// replay must cut it off before writing it again. Like the
			// session, stop adding at the first error: the records after
			// it stay with the camera.
			if err := r.add(st.Records[cut-2]); err != nil {
				t.Fatal(err)
			}
			sk.failWrites, sk.failSyncs = tt.failWrites, tt.failSyncs
			next := cut - 1
			err := r.add(st.Records[next])
			next++
			if err == nil {
				err = r.sync()
			}
			if !errors.Is(err, errDiskFull) {
				t.Fatalf("add/sync with a full disk = %v, want %v", err, errDiskFull)
			}
			if r.d.Seq != durable {
				t.Errorf("durable seq after the error = %d, want %d (unchanged)", r.d.Seq, durable)
			}
			for sk.failWrites+sk.failSyncs > 0 {
				if err := r.replay(); !errors.Is(err, errDiskFull) {
					t.Fatalf("replay() while the disk is full = %v, want %v", err, errDiskFull)
				}
			}
			if err := r.replay(); err != nil {
				t.Fatalf("replay() = %v, want nil", err)
			}
			for _, rec := range st.Records[next:] {
				if err := r.add(rec); err != nil {
					t.Fatal(err)
				}
			}
			if err := r.sync(); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(st.Want(), contents(t, r.files)); diff != "" {
				t.Errorf("finished files (-want +got):\n%s", diff)
			}
			if r.d.Seq != st.Last() {
				t.Errorf("durable seq = %d, want %d", r.d.Seq, st.Last())
			}
		})
	}
}

// TestStoreResumes: a store reloaded from the journal reopens the open
// segment at its durable size, moves the unacknowledged bytes aside,
// and the rest of the segment follows in the same file.
func TestStoreResumes(t *testing.T) {
	st := recvtest.Script("cam", 5, 1, 30, 400, false, false)
	dir := filepath.Join(t.TempDir(), "cam")
	sk := &fakeSink{}
	r := newStore(t, dir, sk, st.Hello)
	for _, rec := range st.Records[:10] {
		if err := r.add(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.sync(); err != nil {
		t.Fatal(err)
	}
	durable := r.d
	// Written but not synced: a crash leaves these bytes past the journal.
	for _, rec := range st.Records[10:15] {
		if err := r.add(rec); err != nil {
			t.Fatal(err)
		}
	}
	r.closeWriter()
	r.close()

	r2 := newStore(t, dir, sk, st.Hello)
	if r2.d.Seq != durable.Seq {
		t.Fatalf("reloaded durable seq = %d, want %d", r2.d.Seq, durable.Seq)
	}
	if diff := cmp.Diff([]int64{durable.Open.Size}, sk.reopened); diff != "" {
		t.Errorf("Reopen sizes (-want +got):\n%s", diff)
	}
	tails, _ := filepath.Glob(filepath.Join(dir, "*"+tailInfix+"*"))
	if len(tails) != 1 {
		t.Errorf("side files %v, want 1 with the unacknowledged bytes", tails)
	}
	for _, rec := range st.Records[durable.Seq:] {
		if err := r2.add(rec); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(st.Want(), contents(t, r2.files)); diff != "" {
		t.Errorf("finished files (-want +got):\n%s", diff)
	}
	if len(tails) == 1 {
		side, _ := os.ReadFile(tails[0])
		var want []byte
		for _, rec := range st.Records[10:15] {
			want = append(want, rec.(wire.Frame).Payload...)
		}
		if !bytes.Equal(side, want) {
			t.Errorf("side file holds %d bytes, want the %d unacknowledged ones", len(side), len(want))
		}
	}
}
