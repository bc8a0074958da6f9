package recv

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// rawBufSize is the read buffer of a raw stream: large, so one read(2)
// and one write(2) move everything the socket holds.
const rawBufSize = 1 << 20

// rawSyncEvery is how often a raw stream's file is fsynced in the
// background. Raw senders get no acknowledgements, so this only bounds
// what a power cut on the laptop can take.
const rawSyncEvery = time.Second

// serveRaw stores a connection that did not open with the magic: one
// recording, byte for byte, until EOF. It reads and writes with one large
// buffer instead of splice(2) so that a failed write (disk full) still
// holds the bytes: the loop retries them and stops reading meanwhile, and
// TCP pushes back to the camera.
func (s *Server) serveRaw(cc *conn, br *bufio.Reader, log *slog.Logger) {
	folder := rawFolder(cc.c.RemoteAddr())
	cc.st.update(func(st *Status) { st.Camera, st.Mode = folder, "raw" })
	log = log.With("camera", folder)
	dir, err := within(s.Dir, folder)
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	start := time.Now()
	var base string
	if err == nil {
		base, err = fileBase(start, ".h264")
	}
	if err != nil {
		log.Error("raw stream refused: cannot create its folder", "err", err)
		return
	}
	path := filepath.Join(dir, base+partialExt)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		log.Error("raw stream refused: cannot create its file", "file", path, "err", err)
		return
	}
	syncDir(path)
	log = log.With("file", path)
	log.Info("raw stream started")
	cc.st.update(func(st *Status) { st.File = filepath.Base(path) })

	// A failed background fsync is kept and the file never renamed: Linux
	// reports a writeback error to a file descriptor once, so the final
	// fsync would return 0 with the lost pages missing.
	stopSync := make(chan struct{})
	var syncWG sync.WaitGroup
	var bgErr error // read after syncWG.Wait
	syncWG.Add(1)
	go func() {
		defer syncWG.Done()
		t := time.NewTicker(rawSyncEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if err := s.fsync(f); err != nil && bgErr == nil {
					bgErr = err
					log.Error("raw stream: fsync failed; some of the file may not be on disk, so it stays .partial", "err", err)
					cc.st.update(func(st *Status) { st.Error = err.Error() })
				}
			case <-stopSync:
				return
			}
		}
	}()

	var total int64
	var lost int
	buf := make([]byte, rawBufSize)
	n := copy(buf, mustPeek(br))
	br.Discard(n)
	var rerr error
	for {
		if n > 0 {
			w, lostN := s.rawWrite(cc, f, buf[:n], path, log)
			total += int64(w)
			cc.st.update(func(st *Status) { st.Bytes = uint64(total) })
			if lostN > 0 {
				lost = lostN
				break
			}
		}
		if rerr != nil {
			break
		}
		if err := cc.setReadDeadline(s.IdleTimeout); err != nil {
			rerr = err
			break
		}
		n, rerr = cc.c.Read(buf)
	}
	close(stopSync)
	syncWG.Wait()
	serr := bgErr
	if serr == nil {
		serr = s.fsync(f)
	}
	cerr := f.Close()
	took := time.Since(start)
	attrs := []any{"bytes", total, "seconds", took.Round(time.Millisecond).Seconds()}
	switch {
	case lost > 0:
		log.Error("raw stream stopped before its end; file stays .partial", append(attrs, "unwritten_bytes", lost)...)
	case rerr != io.EOF:
		log.Warn("raw stream cut before EOF; file stays .partial", append(attrs, "reason", rawReason(cc, rerr))...)
	case serr != nil || cerr != nil:
		log.Error("raw stream: fsync failed; file stays .partial", append(attrs, "err", errors.Join(serr, cerr))...)
	default:
		final := strings.TrimSuffix(path, partialExt)
		if err := os.Rename(path, final); err != nil {
			log.Error("raw stream complete but rename failed; file stays .partial", append(attrs, "err", err)...)
			return
		}
		syncDir(final)
		cc.st.update(func(st *Status) { st.Files++ })
		log.Info("raw stream complete", append(attrs, "renamed_to", filepath.Base(final))...)
		s.finished(folder, final)
		if s.OnRawFile != nil {
			s.OnRawFile(folder, final)
		}
	}
}

// rawWrite writes b, retrying every RetryInterval while the disk refuses
// (full, quota). It returns the bytes written and, if the connection was
// stopped before all of b was written, how many were not.
func (s *Server) rawWrite(cc *conn, f *os.File, b []byte, path string, log *slog.Logger) (written, lost int) {
	failing := false
	for {
		n, err := f.Write(b[written:])
		written += n
		if err == nil {
			if failing {
				log.Info("raw stream: writing works again", "file", path)
				cc.st.update(func(st *Status) { st.Error = "" })
			}
			return written, 0
		}
		if !failing {
			failing = true
			log.Error("raw stream: cannot write; holding the data and retrying (the camera is slowed down meanwhile)", "file", path, "err", err)
			cc.st.update(func(st *Status) { st.Error = "write " + filepath.Base(path) + ": " + err.Error() })
		}
		select {
		case <-cc.stop:
			return written, len(b) - written
		case <-time.After(s.RetryInterval):
		}
	}
}

// fsync is f.Sync, or the Server's syncFile (tests: a disk that fails).
func (s *Server) fsync(f *os.File) error {
	if s.syncFile != nil {
		return s.syncFile(f)
	}
	return f.Sync()
}

func mustPeek(br *bufio.Reader) []byte {
	b, _ := br.Peek(br.Buffered())
	return b
}

// rawReason says in words why a connection ended.
func rawReason(cc *conn, err error) string {
	if cc.stopped() {
		return "receiver stopping"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "idle timeout: nothing received for too long"
	}
	return err.Error()
}
