package recv

import (
	"os"
	"path/filepath"
	"strings"
)

// scan reports what an earlier run left in Dir: .partial files that
// resume when their camera reconnects (a journal names them) and those
// that will not grow again (raw streams, files never acknowledged). It
// changes nothing: bytes past a journal's durable size are moved aside
// when the stream reconnects, and a .partial is never deleted.
func (s *Server) scan() error {
	entries, err := os.ReadDir(s.Dir)
	if err != nil {
		return err
	}
	var partials, resumable int
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		cam := filepath.Join(s.Dir, e.Name())
		journaled := map[string]snapshot{}
		jfiles, _ := filepath.Glob(filepath.Join(cam, stateDir, "*"+journalExt))
		for _, jp := range jfiles {
			j, snap, ok, err := openJournal(jp)
			if err != nil {
				s.log.Warn("unreadable stream journal; that stream starts afresh if it reconnects", "journal", jp, "err", err)
				continue
			}
			j.close()
			if ok && snap.Open != nil {
				journaled[snap.Open.File] = snap
			}
		}
		files, err := os.ReadDir(cam)
		if err != nil {
			s.log.Warn("cannot list camera folder", "dir", cam, "err", err)
			continue
		}
		for _, f := range files {
			name := f.Name()
			if !strings.HasSuffix(name, partialExt) || f.IsDir() {
				continue
			}
			partials++
			p := filepath.Join(cam, name)
			var size int64
			if fi, err := f.Info(); err == nil {
				size = fi.Size()
			}
			if snap, ok := journaled[name]; ok {
				resumable++
				s.log.Info("unfinished recording kept; it continues when its camera reconnects",
					"file", p, "bytes", size, "durable_bytes", snap.Open.Size, "acked_seq", snap.Seq, "stream", shortID(snap.Stream))
			} else {
				s.log.Warn("unfinished recording kept from an earlier run (raw stream, or cut before its first acknowledgement)",
					"file", p, "bytes", size)
			}
		}
	}
	if partials > 0 {
		s.log.Info("found unfinished recordings from an earlier run; all kept", "partial_files", partials, "resumable", resumable)
	}
	return nil
}

func shortID(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}
