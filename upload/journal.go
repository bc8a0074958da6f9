package upload

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// journalPath is where one camera folder's upload journal lives, beside
// the receiver's stream journals (DIR/<camera>/.camwire/) but with
// another extension, since recv reads every *.journal there as a stream.
func journalPath(cameraDir string) string {
	return filepath.Join(cameraDir, ".camwire", "uploads.log")
}

// entry is one journal line. "start" is written, fsynced, before the
// upload begins; "done" once the object is confirmed (its size and
// SHA-256 read back from the server match the file). A file with "start"
// and no "done" was cut short by a crash: the next run first asks the
// server whether the object is already there and whole.
type entry struct {
	State  string    `json:"state"` // "start" or "done"
	File   string    `json:"file"`  // base name in the camera folder
	Key    string    `json:"key"`
	Size   int64     `json:"size"`
	SHA256 string    `json:"sha256"`
	Time   time.Time `json:"time"`
}

// readJournal returns the last entry per file. A torn last line (a
// crash during a write) is ignored: it was never fsynced, so nothing
// relied on it.
func readJournal(cameraDir string) (map[string]entry, error) {
	f, err := os.Open(journalPath(cameraDir))
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]entry{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]entry{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e entry
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.File == "" {
			continue
		}
		out[e.File] = e
	}
	return out, sc.Err()
}

// appendJournal writes e and fsyncs it.
func appendJournal(cameraDir string, e entry) error {
	p := journalPath(cameraDir)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(e)
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("upload journal %s: %w", p, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("upload journal %s: %w", p, err)
	}
	return f.Close()
}
