package recv

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Resumable returns the base names of the files in cameraDir (a folder
// under Server.Dir) that a camera may still resume: the .partial each
// stream journal names as open, and that file's finished name too, since
// a crash between the rename and the journal entry reopens it (see
// store.restore). Retention must not delete them. It reads the journals
// and changes nothing, so it is safe while the server runs: the journal
// names a segment before its file exists and forgets it only after the
// rename.
func Resumable(cameraDir string) (map[string]bool, error) {
	out := map[string]bool{}
	jfiles, err := filepath.Glob(filepath.Join(cameraDir, stateDir, "*"+journalExt))
	if err != nil {
		return nil, err
	}
	for _, jp := range jfiles {
		data, err := os.ReadFile(jp)
		if errors.Is(err, fs.ErrNotExist) {
			continue // compacted away between Glob and here
		}
		if err != nil {
			return nil, fmt.Errorf("read journal %s: %w", jp, err)
		}
		snap, _, ok := parseJournal(data)
		if ok && snap.Open != nil {
			out[snap.Open.File] = true
			out[strings.TrimSuffix(snap.Open.File, partialExt)] = true
		}
	}
	return out, nil
}
