package recv

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Layout under Server.Dir:
//
//	DIR/<camera>/20261124T183500Z-<uuidv7>.h264          finished segment
//	DIR/<camera>/20261124T183500Z-<uuidv7>.h264.partial  being written, or cut short
//	DIR/<camera>/...partial.unacked-tail-<offset>         bytes past the last ack, kept after a crash
//	DIR/<camera>/.camwire/<streamid>.journal              resume state of one sender run
//	DIR/raw-192.168.77.2/...h264[.partial]                raw (raspivid | nc) streams
const (
	partialExt  = ".partial"
	tailInfix   = ".unacked-tail-"
	stateDir    = ".camwire"
	journalExt  = ".journal"
	rawPrefix   = "raw-"
	timeLayout  = "20060102T150405Z"
	maxRawLabel = 63
)

// fileBase names a new file: the start time first so that `ls` sorts by
// time, then a UUIDv7 (also time-ordered) so two files started in the same
// second, or by two receivers, never collide.
func fileBase(start time.Time, ext string) (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", err
	}
	return start.UTC().Format(timeLayout) + "-" + id.String() + ext, nil
}

// rawFolder is the camera folder for a raw stream from addr: the peer's IP
// without port, every byte outside [A-Za-z0-9.-] replaced by '-' (IPv6
// colons, zone '%'), so it is a valid file name on every laptop.
func rawFolder(addr net.Addr) string {
	host := addr.String()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	var b strings.Builder
	b.WriteString(rawPrefix)
	for i := 0; i < len(host) && b.Len() < maxRawLabel; i++ {
		c := host[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' {
			b.WriteByte(c)
		} else {
			b.WriteByte('-')
		}
	}
	return strings.TrimRight(b.String(), ".")
}

// within joins elem under root and refuses a result outside root. Names
// are validated before they get here; this is the second lock on the door.
func within(root string, elem ...string) (string, error) {
	p := filepath.Join(append([]string{root}, elem...)...)
	rel, err := filepath.Rel(root, p)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", fmt.Errorf("path %q escapes %s", filepath.Join(elem...), root)
	}
	return p, nil
}

// syncDir fsyncs the directory holding path, so a create or rename in it
// survives a power cut. Windows cannot open directories for this and
// commits renames itself, so errors there are ignored.
func syncDir(path string) error {
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("fsync directory %s: %w", filepath.Dir(path), err)
	}
	return nil
}

// moveTail copies the bytes of path past size into a new side file,
// fsyncs it, then truncates path to size. Those bytes were written but
// never acknowledged, so the sender sends them again; they are kept anyway
// because nothing received is ever deleted.
func moveTail(path string, size int64) (side string, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	side = fmt.Sprintf("%s%s%d", path, tailInfix, size)
	for i := 2; ; i++ {
		if _, err := os.Lstat(side); os.IsNotExist(err) {
			break
		}
		side = fmt.Sprintf("%s%s%d.%d", path, tailInfix, size, i)
	}
	out, err := os.OpenFile(side, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(out, io.NewSectionReader(f, size, 1<<62)); err != nil {
		out.Close()
		return "", fmt.Errorf("copy unacknowledged tail of %s to %s: %w", path, side, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return "", fmt.Errorf("fsync %s: %w", side, err)
	}
	if err := out.Close(); err != nil {
		return "", err
	}
	syncDir(side)
	if err := f.Truncate(size); err != nil {
		return "", fmt.Errorf("truncate %s to %d: %w", path, size, err)
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("fsync %s: %w", path, err)
	}
	return side, nil
}
