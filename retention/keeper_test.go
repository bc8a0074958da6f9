package retention

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/camwire/camwire/internal/syncbuf"
)

// tree writes files (path → size) under dir with mtime.
func tree(t *testing.T, dir string, files map[string]int, mtime time.Time) {
	t.Helper()
	for p, n := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, make([]byte, n), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(full, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			if e.IsDir() {
				rel += "/"
			}
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// TestKeeperHolds: with a policy that would delete everything, only
// finished recordings no hold keeps go; folders left empty go unless in
// use; the first pass logs the policy and what it removes.
func TestKeeperHolds(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	tree(t, dir, map[string]int{
		"garden/20261101T000000Z-a.mp4":                          100,
		"garden/20261102T000000Z-b.mp4":                          100, // resumable (journal names it)
		"garden/20261103T000000Z-c.mp4":                          100, // not uploaded
		"garden/20261104T000000Z-d.mp4.partial":                  100,
		"garden/20261104T000000Z-d.mp4.partial.unacked-tail-100": 10,
		"garden/.camwire/abc.journal":                            10,
		"garden/notes.txt":                                       10,
		"garden/20261105T000000Z-e.h264":                         100,
		"raw-10.0.0.9/20261101T000000Z-f.h264":                   100,
		"raw-10.0.0.7/20261101T000000Z-g.h264":                   100, // folder in use
		".hidden/20261101T000000Z-h.mp4":                         100,
		"by-hand/clip.mp4":                                       100, // mtime: recent
	}, now.Add(-time.Hour))
	logs := &syncbuf.Buffer{}
	k := &Keeper{
		Dir:    dir,
		Policy: Policy{KeepFor: 24 * time.Hour},
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Now:    func() time.Time { return now },
		CameraHold: func(cam string) (func(string) string, error) {
			return func(p string) string {
				if filepath.Base(p) == "20261102T000000Z-b.mp4" {
					return "resumable"
				}
				return ""
			}, nil
		},
		Holds: []func(string) string{func(p string) string {
			if strings.HasSuffix(p, "-c.mp4") {
				return "upload pending"
			}
			return ""
		}},
		InUse: func(folder string) bool { return folder == "raw-10.0.0.7" },
	}
	if err := k.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	k.Close()
	want := []string{
		".hidden/", ".hidden/20261101T000000Z-h.mp4",
		"by-hand/", "by-hand/clip.mp4",
		"garden/", "garden/.camwire/", "garden/.camwire/abc.journal",
		"garden/20261102T000000Z-b.mp4", "garden/20261103T000000Z-c.mp4",
		"garden/20261104T000000Z-d.mp4.partial", "garden/20261104T000000Z-d.mp4.partial.unacked-tail-100",
		"garden/notes.txt",
		"raw-10.0.0.7/",
	}
	if d := cmp.Diff(want, listTree(t, dir)); d != "" {
		t.Errorf("left after retention (-want +got):\n%s", d)
	}
	log := logs.String()
	for _, s := range []string{
		`msg=retention policy="delete oldest recordings when older than 1d"`, "removes_now=4", "held=2",
		`msg="retention: deleted" file=` + filepath.Join(dir, "garden", "20261101T000000Z-a.mp4") + " bytes=100 reason=age age=756h0m0s",
		`msg="retention: removed empty folder" dir=` + filepath.Join(dir, "raw-10.0.0.9"),
	} {
		if !strings.Contains(log, s) {
			t.Errorf("log lacks %q:\n%s", s, log)
		}
	}
}

// TestKeeperCameraHoldError: a folder whose resumable files cannot be
// told is kept whole.
func TestKeeperCameraHoldError(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, map[string]int{"cam/20200101T000000Z-a.mp4": 10}, time.Now())
	k := &Keeper{Dir: dir, Policy: Policy{KeepFor: time.Hour}, Logger: slog.New(slog.DiscardHandler),
		CameraHold: func(string) (func(string) string, error) { return nil, os.ErrPermission }}
	if got := k.Pass(); len(got) != 0 {
		t.Errorf("deleted %v from a folder whose journals could not be read", got)
	}
}

// TestKeeperMinFree: -min-free asks the filesystem each pass.
func TestKeeperMinFree(t *testing.T) {
	dir := t.TempDir()
	tree(t, dir, map[string]int{
		"cam/20261201T000000Z-a.mp4": 1000, "cam/20261201T000100Z-b.mp4": 1000, "cam/20261201T000200Z-c.mp4": 1000,
	}, time.Now())
	free := int64(500)
	k := &Keeper{Dir: dir, Policy: Policy{MinFree: 2000}, Logger: slog.New(slog.DiscardHandler),
		Free: func(string) (int64, error) { return free, nil }}
	var got []string
	for _, d := range k.Pass() {
		got = append(got, filepath.Base(d.Path))
	}
	if d := cmp.Diff([]string{"20261201T000000Z-a.mp4", "20261201T000100Z-b.mp4"}, got); d != "" {
		t.Errorf("deleted (-want +got):\n%s", d)
	}
}
