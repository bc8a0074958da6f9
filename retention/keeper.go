package retention

import (
	"cmp"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Keeper applies a Policy to the recordings under Dir, once at Start and
// then every Interval and whenever Check is called (a file finished).
type Keeper struct {
	Dir      string
	Policy   Policy
	Interval time.Duration // 0 means one minute
	Logger   *slog.Logger  // nil means slog.Default()

	// Holds say why a finished recording must stay ("" if it may go):
	// a camera may still resume it, it is not uploaded yet. Any hold
	// that answers keeps the file. They are asked once per file per pass.
	Holds []func(path string) string
	// CameraHold, if set, is asked once per camera folder and pass and
	// returns a hold for that folder's files (it may read state on disk
	// once, such as recv.Resumable); an error keeps the whole folder.
	CameraHold func(cameraDir string) (func(path string) string, error)
	// InUse reports a camera folder a connection writes into; it is
	// not removed even when empty. Nil: every folder may be in use, so
	// none is removed.
	InUse func(folder string) bool
	// OnDelete, if set, is called after each pass that deleted files,
	// e.g. for the console's one line.
	OnDelete func(deleted []Deletion)

	Now  func() time.Time                // nil means time.Now
	Free func(dir string) (int64, error) // nil means the filesystem's free bytes

	log    *slog.Logger
	wake   chan struct{}
	done   chan struct{}
	stop   context.CancelFunc
	once   sync.Once
	mu     sync.Mutex // one pass at a time
	warned map[string]bool
}

// Start runs the first pass, logging the policy and what it removes, then
// keeps checking in the background until ctx ends or Close.
func (k *Keeper) Start(ctx context.Context) error {
	k.init()
	if k.Policy.MinFree > 0 {
		if _, err := k.Free(k.Dir); err != nil {
			return err
		}
	}
	k.wake = make(chan struct{}, 1)
	k.done = make(chan struct{})
	ctx, k.stop = context.WithCancel(ctx)
	k.pass(true)
	go k.run(ctx)
	return nil
}

func (k *Keeper) init() {
	k.once.Do(func() {
		k.log = cmp.Or(k.Logger, slog.Default())
		if k.Interval <= 0 {
			k.Interval = time.Minute
		}
		if k.Now == nil {
			k.Now = time.Now
		}
		if k.Free == nil {
			k.Free = freeBytes
		}
		k.warned = map[string]bool{}
	})
}

// Check asks for a pass soon; it never blocks.
func (k *Keeper) Check() {
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// Close stops the background checks and waits for a pass in progress.
func (k *Keeper) Close() {
	k.stop()
	<-k.done
}

func (k *Keeper) run(ctx context.Context) {
	defer close(k.done)
	t := time.NewTicker(k.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-k.wake:
		}
		k.pass(false)
	}
}

// Pass runs one pass now and returns what it deleted; tests call it.
func (k *Keeper) Pass() []Deletion {
	k.init()
	return k.pass(false)
}

func (k *Keeper) pass(first bool) []Deletion {
	k.mu.Lock()
	defer k.mu.Unlock()
	files, disk, held, err := k.look()
	if err != nil {
		k.log.Error("retention: cannot look at the recordings; nothing deleted", "dir", k.Dir, "err", err)
		return nil
	}
	now := k.Now()
	chosen, after := Select(k.Policy, now, files, disk)
	if first {
		var bytes int64
		for _, d := range chosen {
			bytes += d.Size
		}
		attrs := []any{"policy", k.Policy.String(), "dir", k.Dir,
			"used", FormatSize(disk.Used), "recordings", len(files), "held", held,
			"removes_now", len(chosen), "removes_bytes", FormatSize(bytes)}
		if k.Policy.MinFree > 0 {
			attrs = append(attrs, "free", FormatSize(disk.Free))
		}
		k.log.Info("retention", attrs...)
	}
	var done []Deletion
	dirs := map[string]bool{}
	for _, d := range chosen {
		if err := os.Remove(d.Path); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				k.log.Error("retention: cannot delete", "file", d.Path, "err", err)
			}
			continue
		}
		k.log.Info("retention: deleted", "file", d.Path, "bytes", d.Size, "reason", d.Reason,
			"age", now.Sub(d.Time).Round(time.Second).String())
		done = append(done, d)
		dirs[filepath.Dir(d.Path)] = true
	}
	for dir := range dirs {
		k.removeIfEmpty(dir)
	}
	if len(done) > 0 {
		var bytes int64
		for _, d := range done {
			bytes += d.Size
		}
		k.log.Info("retention: pass done", "deleted", len(done), "bytes", FormatSize(bytes), "used", FormatSize(after.Used))
		if k.OnDelete != nil {
			k.OnDelete(done)
		}
	} else if len(chosen) == 0 && k.over(after) && !k.warned["over"] {
		k.warned["over"] = true
		k.log.Warn("retention: over the bound, but every recording left is held (being written, resumable or not yet uploaded)",
			"policy", k.Policy.String(), "used", FormatSize(after.Used), "held", held)
	} else if !k.over(after) {
		k.warned["over"] = false
	}
	return done
}

func (k *Keeper) over(d Disk) bool {
	return k.Policy.KeepSize > 0 && d.Used > k.Policy.KeepSize || k.Policy.MinFree > 0 && d.Free < k.Policy.MinFree
}

// removeIfEmpty removes a camera folder left without any file, unless a
// connection records into it. os.Remove removes only empty folders, so
// a file created meanwhile keeps it.
func (k *Keeper) removeIfEmpty(dir string) {
	if filepath.Dir(dir) != filepath.Clean(k.Dir) || k.InUse == nil || k.InUse(filepath.Base(dir)) {
		return
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) > 0 {
		return
	}
	if err := os.Remove(dir); err == nil {
		k.log.Info("retention: removed empty folder", "dir", dir)
	}
}

// look lists the deletable recordings under Dir (DIR/<camera>/<file>
// with a recording's extension, finished, not held) and sums every
// file's size.
func (k *Keeper) look() (files []File, d Disk, held int, err error) {
	err = filepath.WalkDir(k.Dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p == k.Dir {
				return err
			}
			k.warnOnce(p, "retention: cannot read; it is counted as nothing and kept", err)
			return nil
		}
		if e.IsDir() || !e.Type().IsRegular() {
			return nil
		}
		fi, err := e.Info()
		if err != nil {
			return nil
		}
		d.Used += fi.Size()
		return nil
	})
	if err != nil {
		return nil, d, 0, err
	}
	if k.Policy.MinFree > 0 {
		if d.Free, err = k.Free(k.Dir); err != nil {
			return nil, d, 0, err
		}
	}
	cams, err := os.ReadDir(k.Dir)
	if err != nil {
		return nil, d, 0, err
	}
	for _, c := range cams {
		if !c.IsDir() || strings.HasPrefix(c.Name(), ".") {
			continue
		}
		camDir := filepath.Join(k.Dir, c.Name())
		entries, err := os.ReadDir(camDir)
		if err != nil {
			continue
		}
		var camHold func(string) string
		if k.CameraHold != nil {
			if camHold, err = k.CameraHold(camDir); err != nil {
				k.warnOnce(camDir, "retention: cannot tell which files a camera may resume; none of this folder is deleted", err)
				continue
			}
		}
		for _, e := range entries {
			if !e.Type().IsRegular() || !IsRecording(e.Name()) {
				continue
			}
			p := filepath.Join(camDir, e.Name())
			if k.hold(camHold, p) {
				held++
				continue
			}
			fi, err := e.Info()
			if err != nil {
				continue
			}
			files = append(files, File{Path: p, Size: fi.Size(), Time: StartTime(e.Name(), fi.ModTime())})
		}
	}
	return files, d, held, nil
}

func (k *Keeper) hold(camHold func(string) string, p string) bool {
	if camHold != nil && camHold(p) != "" {
		return true
	}
	for _, h := range k.Holds {
		if h(p) != "" {
			return true
		}
	}
	return false
}

func (k *Keeper) warnOnce(p, msg string, err error) {
	if !k.warned[p] {
		k.warned[p] = true
		k.log.Warn(msg, "path", p, "err", err)
	}
}

// recordingExts are the extensions of finished recordings: the sinks'
// (.mp4, .h264). Anything else in a camera folder is not ours to delete.
var recordingExts = []string{".mp4", ".h264"}

// IsRecording reports whether name is a finished recording: a
// recording's extension, not hidden, not .partial (being written or
// resumable) and not a side file of unacknowledged bytes.
func IsRecording(name string) bool {
	if strings.HasPrefix(name, ".") || strings.Contains(name, ".unacked-tail-") {
		return false
	}
	for _, ext := range recordingExts {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// nameLayout is the time recv puts first in every file name
// (20261124T183500Z-<uuid>.mp4), the capture time of its first frame.
const nameLayout = "20060102T150405Z"

// StartTime is when the recording named name started: the UTC time its
// name begins with, else mtime (a file renamed by hand).
func StartTime(name string, mtime time.Time) time.Time {
	if len(name) >= len(nameLayout) {
		if t, err := time.Parse(nameLayout, name[:len(nameLayout)]); err == nil {
			return t
		}
	}
	return mtime
}

// ResumableHold makes a CameraHold of a function that lists the base
// names a camera may still resume in its folder (recv.Resumable).
func ResumableHold(resumable func(cameraDir string) (map[string]bool, error)) func(string) (func(string) string, error) {
	return func(cam string) (func(string) string, error) {
		names, err := resumable(cam)
		if err != nil {
			return nil, err
		}
		return func(p string) string {
			if names[filepath.Base(p)] {
				return "a camera may resume it"
			}
			return ""
		}, nil
	}
}
