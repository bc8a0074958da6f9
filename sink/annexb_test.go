package sink

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/camwire/camwire/wire"
)

func TestAnnexBWriteSyncReopen(t *testing.T) {
	for _, stable := range []bool{false, true} {
		t.Run(fmt.Sprintf("stable=%v", stable), func(t *testing.T) { testAnnexBWriteSyncReopen(t, stable) })
	}
}

func testAnnexBWriteSyncReopen(t *testing.T, stable bool) {
	p := filepath.Join(t.TempDir(), "seg.h264.partial")
	info := SegmentInfo{Stable: stable}
	s := NewAnnexB()
	if got := s.Ext(); got != ".h264" {
		t.Errorf("Ext() = %q, want .h264", got)
	}
	w, err := s.Create(p, info)
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
	if _, err := s.Create(p, info); err == nil {
		t.Error("Create() over an existing file succeeded, want an error")
	}
	if _, err := s.Reopen(p, info, size, nil); err == nil {
		t.Error("Reopen() of a file longer than size succeeded, want an error")
	}
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
	w, err = s.Reopen(p, info, size, nil)
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

// TestAnnexBPayloadOwnership: without SegmentInfo.Stable a payload is
// the writer's only during WriteFrame (the caller reuses it at once, and
// the file still gets the bytes as they were); with Stable the writer
// writes the caller's buffer at Sync, so the bytes as they are then land
// in the file: it made no copy, which is what Stable is for.
func TestAnnexBPayloadOwnership(t *testing.T) {
	for _, tt := range []struct {
		stable bool
		want   string
	}{{false, "\x00\x00\x01before"}, {true, "\x00\x00\x01after!"}} {
		p := filepath.Join(t.TempDir(), "seg.h264.partial")
		w, err := NewAnnexB().Create(p, SegmentInfo{Stable: tt.stable})
		if err != nil {
			t.Fatal(err)
		}
		buf := []byte("\x00\x00\x01before")
		if err := w.WriteFrame(wire.Frame{Seq: 1, Key: true, Payload: buf}); err != nil {
			t.Fatal(err)
		}
		copy(buf[3:], "after!")
		if _, _, err := w.Sync(); err != nil {
			t.Fatal(err)
		}
		w.Close()
		if got, _ := os.ReadFile(p); string(got) != tt.want {
			t.Errorf("stable=%v: file = %q, want %q", tt.stable, got, tt.want)
		}
	}
}

// TestAnnexBSyncErrorSticks: once an fsync failed, the writer never
// reports a Sync (or a write, or Close) as good again, although the
// next fsync would return 0: Linux reports a writeback error to a file
// descriptor only once, and the pages it lost are still missing. Only
// Reopen at the last durable size starts over.
func TestAnnexBSyncErrorSticks(t *testing.T) {
	eio := errors.New("sync seg.h264.partial: input/output error")
	for _, stable := range []bool{false, true} {
		t.Run(fmt.Sprintf("stable=%v", stable), func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "seg.h264.partial")
			info := SegmentInfo{Stable: stable}
			s := NewAnnexB()
			w, err := s.Create(p, info)
			if err != nil {
				t.Fatal(err)
			}
			fails := 0
			w.(*annexBWriter).fsync = func(f *os.File) error {
				if fails == 1 {
					fails--
					return eio // once, like the kernel
				}
				return f.Sync()
			}
			a := []byte{0, 0, 0, 1, 0x65, 1, 2, 3}
			b := []byte{0, 0, 0, 1, 0x41, 4, 5}
			var got []string
			note := func(op string, err error) {
				got = append(got, fmt.Sprintf("%s: %v", op, err))
			}
			note("write a", w.WriteFrame(wire.Frame{Seq: 1, Payload: a}))
			size, _, err := w.Sync()
			note("sync", err)
			note("write b", w.WriteFrame(wire.Frame{Seq: 2, Payload: b}))
			fails = 1
			_, _, err = w.Sync()
			note("sync", err)
			_, _, err = w.Sync()
			note("sync again", err)
			note("write b again", w.WriteFrame(wire.Frame{Seq: 2, Payload: b}))
			note("close", w.Close())
			want := []string{
				"write a: <nil>", "sync: <nil>", "write b: <nil>",
				"sync: " + eio.Error(), "sync again: " + eio.Error(),
				"write b again: " + eio.Error(), "close: " + eio.Error(),
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}

			// The way back: cut to the durable size, reopen, write again.
			if err := os.Truncate(p, size); err != nil {
				t.Fatal(err)
			}
			w, err = s.Reopen(p, info, size, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.WriteFrame(wire.Frame{Seq: 2, Payload: b}); err != nil {
				t.Fatal(err)
			}
			if err := w.Finish(); err != nil {
				t.Fatalf("Finish() after Reopen = %v, want nil", err)
			}
			if got, want := mustRead(t, p), append(append([]byte{}, a...), b...); !bytes.Equal(got, want) {
				t.Errorf("file = %x, want %x", got, want)
			}
		})
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
