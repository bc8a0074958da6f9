package sink

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/camwire/camwire/wire"
)

func TestAnnexBWriteSyncReopen(t *testing.T) {
	p := filepath.Join(t.TempDir(), "seg.h264.partial")
	s := NewAnnexB()
	if got := s.Ext(); got != ".h264" {
		t.Errorf("Ext() = %q, want .h264", got)
	}
	w, err := s.Create(p, SegmentInfo{})
	if err != nil {
		t.Fatal(err)
	}
	a := []byte{0, 0, 0, 1, 0x65, 1, 2, 3}
	b := []byte{0, 0, 0, 1, 0x41, 4, 5}
	if err := w.WriteFrame(wire.Frame{Seq: 1, Payload: a}); err != nil {
		t.Fatal(err)
	}
	size, state, err := w.Sync()
	if err != nil || size != int64(len(a)) || state != nil {
		t.Fatalf("Sync() = %d, %v, %v; want %d, nil, nil", size, state, err, len(a))
	}
	// Unsynced bytes reach the file on Close; a crash would leave them
	// past the journaled size, which the receiver moves aside.
	w.WriteFrame(wire.Frame{Seq: 2, Payload: b})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(p, SegmentInfo{}); err == nil {
		t.Error("Create() over an existing file succeeded, want an error")
	}
	if _, err := s.Reopen(p, SegmentInfo{}, size, nil); err == nil {
		t.Error("Reopen() of a file longer than size succeeded, want an error")
	}
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
	w, err = s.Reopen(p, SegmentInfo{}, size, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.WriteFrame(wire.Frame{Seq: 2, Payload: b})
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	if want := append(append([]byte{}, a...), b...); !bytes.Equal(got, want) {
		t.Errorf("file = %x, want %x", got, want)
	}
}
