package recv

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"time"

	"github.com/camwire/camwire/wire"
)

// snapshot is everything the receiver must remember about one stream to
// resume it after a crash. The journal appends a whole snapshot after
// every durable step, so the last intact one is the truth and there is
// nothing to replay.
type snapshot struct {
	Camera string `json:"camera"`
	Stream string `json:"stream"` // StreamID, hex
	// Seq is the highest sequence number durably stored: every record up
	// to it is in a file that was fsynced before this snapshot was written.
	Seq   uint64       `json:"seq"`
	Gaps  uint64       `json:"gaps,omitempty"`  // Gap records seen
	Files int          `json:"files,omitempty"` // segments finished (renamed)
	Open  *openSegment `json:"open,omitempty"`  // the segment being written, if any
	Time  time.Time    `json:"time"`
	Hello *wire.Hello  `json:"hello,omitempty"`
}

// openSegment is the .partial file a stream writes into.
type openSegment struct {
	Segment uint32    `json:"segment"`
	File    string    `json:"file"` // base name of the .partial, in the camera's folder
	Start   time.Time `json:"start"`
	Size    int64     `json:"size"`  // durable bytes, as SegmentWriter.Sync returned
	State   []byte    `json:"state"` // SegmentWriter.Sync's state, for Sink.Reopen
}

// journal is an append-only file of snapshots, each framed as
//
//	length uint32 BE | CRC-32 (IEEE) of body uint32 BE | body (JSON)
//
// A torn last record (crash during append) fails its CRC and is ignored:
// the snapshot before it is still valid, and it was the last one acked.
type journal struct {
	path string
	f    *os.File
	size int64 // bytes of intact records
}

// journalCompactAt is the size past which the journal is rewritten as a
// single snapshot, so a camera recording for days does not grow it
// without bound (~250 bytes per sync, two syncs a second).
const journalCompactAt = 256 << 10

// maxSnapshot bounds one record when reading a journal back; a snapshot is
// a few hundred bytes plus the sink's state.
const maxSnapshot = 1 << 20

// openJournal opens or creates the journal at path and returns the last
// intact snapshot (ok=false when there is none). A torn tail is cut off so
// later appends follow an intact record.
func openJournal(path string) (j *journal, last snapshot, ok bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, snapshot{}, false, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, snapshot{}, false, fmt.Errorf("read journal %s: %w", path, err)
	}
	last, good, ok := parseJournal(data)
	if good != int64(len(data)) {
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, snapshot{}, false, fmt.Errorf("journal %s: cutting torn tail: %w", path, err)
		}
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, snapshot{}, false, err
	}
	return &journal{path: path, f: f, size: good}, last, ok, nil
}

// parseJournal returns the last intact snapshot in data and the length
// of the intact records before any torn tail.
func parseJournal(data []byte) (last snapshot, good int64, ok bool) {
	for rest := data; len(rest) >= 8; {
		n := binary.BigEndian.Uint32(rest)
		sum := binary.BigEndian.Uint32(rest[4:])
		if n > maxSnapshot || int(n) > len(rest)-8 {
			break
		}
		body := rest[8 : 8+n]
		if crc32.ChecksumIEEE(body) != sum {
			break
		}
		var s snapshot
		if err := json.Unmarshal(body, &s); err != nil {
			break
		}
		last, ok = s, true
		good += 8 + int64(n)
		rest = rest[8+n:]
	}
	return last, good, ok
}

func encodeSnapshot(s snapshot) ([]byte, error) {
	body, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 8, 8+len(body))
	binary.BigEndian.PutUint32(b, uint32(len(body)))
	binary.BigEndian.PutUint32(b[4:], crc32.ChecksumIEEE(body))
	return append(b, body...), nil
}

// append makes s durable. On any error the file is cut back to its last
// intact record, so a failed append (disk full) never leaves a torn
// record in the middle of the journal.
func (j *journal) append(s snapshot) error {
	if j.size >= journalCompactAt {
		if err := j.compact(s); err == nil {
			return nil
		}
		// Compaction needs space for a second copy; appending may not.
	}
	b, err := encodeSnapshot(s)
	if err != nil {
		return err
	}
	if _, err := j.f.WriteAt(b, j.size); err != nil {
		j.f.Truncate(j.size)
		return fmt.Errorf("write journal %s: %w", j.path, err)
	}
	if err := j.f.Sync(); err != nil {
		j.f.Truncate(j.size)
		return fmt.Errorf("fsync journal %s: %w", j.path, err)
	}
	j.size += int64(len(b))
	return nil
}

// compact replaces the journal by a new file holding only s: written and
// fsynced under a temporary name, then renamed over the old one.
func (j *journal) compact(s snapshot) error {
	b, err := encodeSnapshot(s)
	if err != nil {
		return err
	}
	tmp := j.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, j.path); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	syncDir(j.path)
	j.f.Close()
	j.f = f
	j.size = int64(len(b))
	return nil
}

func (j *journal) close() error {
	if j == nil || j.f == nil {
		return nil
	}
	return j.f.Close()
}
