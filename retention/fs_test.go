package retention

import (
	"context"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camwire/camwire/internal/ffprobe"
	"github.com/camwire/camwire/internal/syncbuf"
	"github.com/camwire/camwire/mp4"
	"github.com/camwire/camwire/recv"
	"github.com/camwire/camwire/recv/recvtest"
	"github.com/camwire/camwire/segment"
	"github.com/camwire/camwire/wire"
)

// ext4 makes a small ext4 filesystem of mib MiB in a file, loop-mounts
// it for the test and unmounts it in Cleanup.
func ext4(t *testing.T, mib int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to loop-mount a small ext4 (make test runs as root)")
	}
	tmp := t.TempDir()
	img, mnt := filepath.Join(tmp, "fs.img"), filepath.Join(tmp, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, int64(mib)<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-m", "0", img).CombinedOutput(); err != nil {
		t.Skipf("mkfs.ext4 (e2fsprogs): %v: %s", err, out)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot loop-mount an ext4: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	return mnt
}

const clipFPS = 30

// clipStream is a camera sending segments of one second (the test
// clip's GOP) of real H.264 as fast as the receiver acknowledges: five
// minutes of video take seconds.
func clipStream(t *testing.T, name string, segments int) *recvtest.Stream {
	t.Helper()
	b, err := os.ReadFile("../capture/testclip.h264")
	if err != nil {
		t.Fatal(err)
	}
	var sp segment.Splitter
	aus, err := sp.Write(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	aus = append(aus, sp.Flush()...)
	st := &recvtest.Stream{Hello: wire.Hello{Name: name, Codec: "h264", Width: 640, Height: 360, FPSNum: clipFPS, FPSDen: 1}}
	copy(st.Hello.StreamID[:], name)
	var seq uint64
	for g := range segments {
		for i := range clipFPS {
			n := g*clipFPS + i
			au := aus[n%len(aus)]
			seq++
			st.Records = append(st.Records, wire.Frame{Seq: seq, Segment: uint32(g), TimeUS: 5e6 + int64(n)*1e6/clipFPS, Key: au.Key, Payload: au.Data})
		}
		seq++
		st.Records = append(st.Records, wire.SegmentEnd{Seq: seq, Segment: uint32(g), Frames: clipFPS})
	}
	return st
}

func usedBytes(t *testing.T, dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// TestBoundOnRealFS records three minutes of one camera onto a small
// ext4 under each size rule, with a pass after every finished file as
// the receiver's hook asks for one: after each pass the bound holds, the
// files deleted are exactly the oldest, and every kept file has all its
// frames (ffprobe decodes 30 per one-second segment).
func TestBoundOnRealFS(t *testing.T) {
	mp4Tools(t)
	const segments = 180 // three minutes at one-second segments, ~9 MB
	tests := []struct {
		name   string
		fsMiB  int
		policy func(mnt string) Policy
		check  func(t *testing.T, k *Keeper, dir string) // after each pass
	}{
		{"keep-size", 64, func(string) Policy { return Policy{KeepSize: 1.5e6} }, func(t *testing.T, k *Keeper, dir string) {
			if u := usedBytes(t, dir); u > k.Policy.KeepSize {
				t.Errorf("folder holds %d bytes after a pass, bound %d", u, k.Policy.KeepSize)
			}
		}},
		{"min-free", 8, func(mnt string) Policy {
			free, err := freeBytes(mnt)
			if err != nil {
				t.Fatal(err)
			}
			return Policy{MinFree: free - 1.5e6} // room for ~1.5 MB of recordings on a disk that holds less than the run
		}, func(t *testing.T, k *Keeper, dir string) {
			free, err := freeBytes(dir)
			if err != nil {
				t.Fatal(err)
			}
			if free < k.Policy.MinFree {
				t.Errorf("%d bytes free after a pass, bound %d", free, k.Policy.MinFree)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mnt := ext4(t, tt.fsMiB)
			dir := filepath.Join(mnt, "recv")
			logs := &syncbuf.Buffer{}
			log := slog.New(slog.NewTextHandler(logs, nil))
			srv := &recv.Server{Dir: dir, Sink: &mp4.Sink{}, Logger: log, SyncInterval: 20 * time.Millisecond}
			k := &Keeper{Dir: dir, Policy: tt.policy(mnt), Logger: log,
				CameraHold: ResumableHold(recv.Resumable), InUse: func(string) bool { return true }}
			var mu sync.Mutex
			var finished, deleted []string
			passes := 0
			srv.OnFile = func(_, path string) {
				// On the connection's goroutine: the next segment's file
				// does not exist yet, so the pass sees only finished files.
				mu.Lock()
				defer mu.Unlock()
				finished = append(finished, path)
				for _, d := range k.Pass() {
					deleted = append(deleted, d.Path)
				}
				passes++
				tt.check(t, k, dir)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ctx, ln) }()
			var stopOnce sync.Once
			stop := func() { stopOnce.Do(func() { cancel(); <-served }) }
			defer func() {
				stop()
				if t.Failed() {
					t.Logf("log:\n%s", logs)
				}
			}()
			st := clipStream(t, "garden", segments)
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			res, err := st.Run(c, 5*time.Minute)
			if err != nil || res.Acked != st.Last() {
				t.Fatalf("camera run: acked %d of %d: %v", res.Acked, st.Last(), err)
			}
			stop()

			mu.Lock()
			defer mu.Unlock()
			if len(finished) != segments {
				t.Fatalf("%d files finished, want %d", len(finished), segments)
			}
			if len(deleted) < segments/2 {
				t.Fatalf("only %d of %d files deleted: the run did not press the bound", len(deleted), segments)
			}
			// Oldest first: what was deleted is exactly the first files
			// finished, what is kept the rest.
			if !slices.Equal(deleted, finished[:len(deleted)]) {
				t.Errorf("deleted files are not the oldest ones:\ndeleted  %v\nfinished %v", deleted, finished[:len(deleted)])
			}
			kept, _ := filepath.Glob(filepath.Join(dir, "garden", "*.mp4"))
			sort.Strings(kept)
			if !slices.Equal(kept, finished[len(deleted):]) {
				t.Errorf("kept files %v, want the newest %v", kept, finished[len(deleted):])
			}
			for _, f := range kept {
				in, err := ffprobe.Probe(f)
				if err != nil {
					t.Errorf("%v", err)
					continue
				}
				if in.Frames != clipFPS || in.Stderr != "" {
					t.Errorf("%s: ffprobe decoded %d frames (stderr %q), want %d", filepath.Base(f), in.Frames, in.Stderr, clipFPS)
				}
			}
			if n := strings.Count(logs.String(), `msg="retention: deleted"`); n != len(deleted) {
				t.Errorf("log has %d deletion lines for %d deletions", n, len(deleted))
			}
			t.Logf("%d passes, %d files deleted, %d kept, %d bytes in the folder", passes, len(deleted), len(kept), usedBytes(t, dir))
		})
	}
}

func mp4Tools(t *testing.T) {
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe not installed (scripts/deps.sh installs ffmpeg)")
	}
}
