package recv

import (
	"os"
	"path/filepath"
	"testing"
)

func TestJournal(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.journal")
	j, _, ok, err := openJournal(p)
	if err != nil || ok {
		t.Fatalf("openJournal(new) = ok %v, err %v; want no snapshot", ok, err)
	}
	// Enough appends to pass journalCompactAt at least once.
	var last uint64
	for i := uint64(1); i <= 2000; i++ {
		if err := j.append(snapshot{Camera: "c", Seq: i, Open: &openSegment{File: "f.partial", Size: int64(i) * 1000}}); err != nil {
			t.Fatal(err)
		}
		last = i
	}
	j.close()
	if fi, _ := os.Stat(p); fi.Size() > journalCompactAt+4096 {
		t.Errorf("journal is %d bytes after compaction, want at most ~%d", fi.Size(), journalCompactAt)
	}
	// A torn record (crash during append) is ignored and cut off.
	f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{0, 0, 1, 0, 0xde, 0xad, '{'})
	f.Close()
	j, snap, ok, err := openJournal(p)
	if err != nil || !ok {
		t.Fatalf("openJournal = ok %v, err %v", ok, err)
	}
	if snap.Seq != last || snap.Open == nil || snap.Open.Size != int64(last)*1000 {
		t.Errorf("last snapshot = %+v, want seq %d", snap, last)
	}
	// Appending after the torn tail still yields a readable journal.
	if err := j.append(snapshot{Camera: "c", Seq: last + 1}); err != nil {
		t.Fatal(err)
	}
	j.close()
	_, snap, _, _ = openJournal(p)
	if snap.Seq != last+1 || snap.Open != nil {
		t.Errorf("after append past a torn tail: %+v, want seq %d, no open file", snap, last+1)
	}
}
