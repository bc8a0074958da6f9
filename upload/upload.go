// Package upload copies each finished recording into S3-compatible
// object storage (AWS S3, SeaweedFS, MinIO, Garage, R2 …) exactly once,
// across receiver restarts and crashes, under the same camera/file layout
// as on disk. With Config.Delete the local file goes only after the
// object is confirmed: its size and SHA-256, read back from the server,
// match the file.
//
// The S3 protocol is minio-go's; this package adds the journal, the
// retry loop and the bandwidth limit.
package upload

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/camwire/camwire/internal/backoff"
)

// metaSHA256 is the object's user metadata holding the file's SHA-256,
// which is what confirmation compares (an ETag is an MD5 only for
// single-part uploads, and not on every server).
const metaSHA256 = "Camwire-Sha256"

// Uploader uploads the finished recordings under Dir.
type Uploader struct {
	Dir      string
	Config   Config
	Logger   *slog.Logger
	MinRetry time.Duration // 0 means 2 s
	MaxRetry time.Duration // 0 means 5 min
	Rescan   time.Duration // look for files the hook missed this often; 0 means 1 min

	onConfirmed func(path string, resumed bool) // tests: an object was confirmed

	bucket, prefix string
	s3             *minio.Client
	log            *slog.Logger
	wake           chan struct{}
	cancel         context.CancelFunc
	done           chan struct{}

	mu      sync.Mutex
	done1   map[string]bool // confirmed, by path
	pending map[string]bool // finished, not yet confirmed, by path
	lastErr string
}

// Start checks the configuration and begins uploading in the background.
func (u *Uploader) Start(ctx context.Context) error {
	var err error
	if u.bucket, u.prefix, err = parseURL(u.Config.URL); err != nil {
		return err
	}
	if u.s3, err = u.Config.client(); err != nil {
		return err
	}
	u.log = cmp.Or(u.Logger, slog.Default())
	u.wake = make(chan struct{}, 1)
	u.done = make(chan struct{})
	u.done1, u.pending = map[string]bool{}, map[string]bool{}
	ctx, u.cancel = context.WithCancel(ctx)
	go u.run(ctx)
	return nil
}

// Close stops uploading; an upload in flight is abandoned and done
// again (or found done) on the next start.
func (u *Uploader) Close() {
	u.cancel()
	<-u.done
}

// Finished is recv.Server's OnFile hook: path was just finished.
func (u *Uploader) Finished(camera, path string) {
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

// Pending reports whether path is a finished recording not yet confirmed
// in the bucket. Retention asks it before deleting: a file that is
// pending must stay. It is also true for a recording the uploader has not
// looked at yet, so the answer is safe from the first moment.
func (u *Uploader) Pending(path string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.done1[path] {
		return false
	}
	if u.pending[path] {
		return true
	}
	// Not scanned yet: ask the journal.
	j, err := readJournal(filepath.Dir(path))
	if err != nil {
		return true
	}
	return j[filepath.Base(path)].State != "done"
}

// State counts camera's recordings waiting for upload and confirmed
// since the receiver started looking, with the last error of the
// uploader (shared by all cameras), for the console and the live page.
func (u *Uploader) State(camera string) (pending, uploaded int, lastErr string) {
	dir := filepath.Join(u.Dir, camera)
	u.mu.Lock()
	defer u.mu.Unlock()
	for p := range u.pending {
		if filepath.Dir(p) == dir {
			pending++
		}
	}
	for p := range u.done1 {
		if filepath.Dir(p) == dir {
			uploaded++
		}
	}
	return pending, uploaded, u.lastErr
}

func (u *Uploader) run(ctx context.Context) {
	defer close(u.done)
	bo := backoff.Backoff{Min: cmp.Or(u.MinRetry, 2*time.Second), Max: cmp.Or(u.MaxRetry, 5*time.Minute)}
	rescan := time.NewTicker(cmp.Or(u.Rescan, time.Minute))
	defer rescan.Stop()
	for {
		err := u.pass(ctx)
		if ctx.Err() != nil {
			return
		}
		wait := time.Duration(0)
		u.mu.Lock()
		if err != nil {
			u.lastErr = err.Error()
			wait = bo.Next(0)
		} else {
			u.lastErr = ""
			bo.Reset()
		}
		u.mu.Unlock()
		if err != nil {
			u.log.Warn("upload: will retry", "err", err, "pause", wait)
			if !backoff.Sleep(ctx, wait) {
				return
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-u.wake:
		case <-rescan.C:
		}
	}
}

// recordings lists the finished segments in one camera folder, oldest
// first (names start with their UTC time).
func recordings(cameraDir string) ([]string, error) {
	es, err := os.ReadDir(cameraDir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range es {
		n := e.Name()
		if e.Type().IsRegular() && (strings.HasSuffix(n, ".mp4") || strings.HasSuffix(n, ".h264")) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// pass uploads every finished recording not yet confirmed; it stops at
// the first error (the caller pauses and retries).
func (u *Uploader) pass(ctx context.Context) error {
	cams, err := os.ReadDir(u.Dir)
	if err != nil {
		return err
	}
	for _, c := range cams {
		if !c.IsDir() || strings.HasPrefix(c.Name(), ".") {
			continue
		}
		cdir := filepath.Join(u.Dir, c.Name())
		j, err := readJournal(cdir)
		if err != nil {
			return fmt.Errorf("upload journal of %s: %w", c.Name(), err)
		}
		files, err := recordings(cdir)
		if err != nil {
			return err
		}
		u.mu.Lock()
		for _, f := range files {
			p := filepath.Join(cdir, f)
			if j[f].State == "done" {
				u.done1[p] = true
			} else {
				u.pending[p] = true
			}
		}
		u.mu.Unlock()
		for _, f := range files {
			if j[f].State == "done" {
				continue
			}
			if err := u.one(ctx, c.Name(), cdir, f, j[f]); err != nil {
				return fmt.Errorf("%s/%s: %w", c.Name(), f, err)
			}
		}
	}
	return nil
}

// key is the object name: PREFIX/<camera>/<file>, the layout on disk.
func (u *Uploader) key(camera, file string) string {
	return path.Join(u.prefix, camera, file)
}

// one uploads one file: journal "start", PUT (unless a crash left the
// object whole), confirm, journal "done", then delete if asked.
func (u *Uploader) one(ctx context.Context, camera, cdir, file string, last entry) error {
	p := filepath.Join(cdir, file)
	size, sum, err := digest(p)
	if err != nil {
		return err
	}
	e := entry{State: "start", File: file, Key: u.key(camera, file), Size: size, SHA256: sum, Time: time.Now().UTC()}
	confirmed := false
	if last.State == "start" {
		// A crash cut an earlier try short: the object may be whole.
		confirmed = u.confirm(ctx, e) == nil
	} else if err := appendJournal(cdir, e); err != nil {
		return err
	}
	if !confirmed {
		u.log.Debug("upload: putting", "file", p, "object", "s3://"+u.bucket+"/"+e.Key, "bytes", size)
		if err := u.put(ctx, p, e); err != nil {
			return err
		}
		if err := u.confirm(ctx, e); err != nil {
			return err
		}
	}
	e.State, e.Time = "done", time.Now().UTC()
	if err := appendJournal(cdir, e); err != nil {
		return err
	}
	u.mu.Lock()
	delete(u.pending, p)
	u.done1[p] = true
	u.mu.Unlock()
	u.log.Info("upload: confirmed", "file", p, "object", "s3://"+u.bucket+"/"+e.Key, "bytes", size, "resumed", last.State == "start")
	if u.Config.Delete {
		if err := os.Remove(p); err != nil {
			u.log.Warn("upload: object confirmed, local file not deleted", "file", p, "err", err)
		}
	}
	if u.onConfirmed != nil {
		u.onConfirmed(p, last.State == "start")
	}
	return nil
}

func (u *Uploader) put(ctx context.Context, p string, e entry) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	if u.Config.Limit > 0 {
		r = &limited{ctx: ctx, r: f, rate: u.Config.Limit}
	}
	ct := "video/mp4"
	if strings.HasSuffix(p, ".h264") {
		ct = "video/h264"
	}
	_, err = u.s3.PutObject(ctx, u.bucket, e.Key, r, e.Size, minio.PutObjectOptions{
		ContentType:    ct,
		UserMetadata:   map[string]string{metaSHA256: e.SHA256},
		SendContentMd5: true, // the server checks the bytes it got
	})
	if err != nil {
		return fmt.Errorf("PUT s3://%s/%s: %w", u.bucket, e.Key, err)
	}
	return nil
}

// errMismatch: the object exists but is not this file.
var errMismatch = errors.New("object differs from the file")

// confirm reads the object's size and SHA-256 back from the server.
func (u *Uploader) confirm(ctx context.Context, e entry) error {
	info, err := u.s3.StatObject(ctx, u.bucket, e.Key, minio.StatObjectOptions{})
	if err != nil {
		return fmt.Errorf("HEAD s3://%s/%s: %w", u.bucket, e.Key, err)
	}
	got := info.UserMetadata[metaSHA256]
	if got == "" {
		got = info.Metadata.Get("X-Amz-Meta-" + metaSHA256)
	}
	if info.Size != e.Size || got != e.SHA256 {
		return fmt.Errorf("%w: s3://%s/%s has %d bytes, sha256 %q; the file has %d, %s", errMismatch, u.bucket, e.Key, info.Size, got, e.Size, e.SHA256)
	}
	return nil
}

func digest(p string) (int64, string, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}
