package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camwire/camwire/camconsole"
	"github.com/camwire/camwire/internal/ffprobe"
	"github.com/camwire/camwire/internal/testkit"
)

// The host-mode end-to-end test builds the real binaries once, runs
// camwire-init as a plain process (so it is only the recorder) with the
// real-time test source into a real camwire-recv, stops it with SIGTERM
// like PID 1 or systemd would, and checks every file with ffprobe.

func TestMain(m *testing.M) { testkit.Main(m) }

// initBin is camwire-init, built once for the tests that exec it.
func initBin(tb testing.TB) string {
	tb.Helper()
	return testkit.Build(tb, testkit.Module+"/cmd/camwire-init")
}

func needTool(tb testing.TB, name string) {
	tb.Helper()
	if _, err := exec.LookPath(name); err != nil {
		tb.Skipf("%s not installed (scripts/deps.sh installs it): %v", name, err)
	}
}

// recordings lists the video files under dir.
func recordings(tb testing.TB, dir string) []string {
	tb.Helper()
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".h264") || strings.HasSuffix(p, ".mp4")) {
			files = append(files, p)
		}
		return nil
	})
	return files
}

// startRecv runs camwire-recv on a free loopback port and returns its
// address once it listens.
func startRecv(tb testing.TB, dir string) string {
	tb.Helper()
	return testkit.StartRecv(tb, "", "-dir", dir, "-diagnose-after", "0").Addr
}

// TestHostEndToEnd is issue #3's acceptance test in host mode.
func TestHostEndToEnd(t *testing.T) {
	bin := initBin(t)
	needTool(t, "ffprobe")
	dir := t.TempDir()
	addr := startRecv(t, dir)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin,
		"-name", "e2e", "-source", "testsrc", "-receiver", addr, "-segment", "3s")
	out := testkit.StartCmd(t, "camwire-init", cmd)

	out.WaitLine(t, camconsole.InitStart, 10*time.Second)
	first := out.WaitLine(t, camconsole.FirstAckedPrefix, 10*time.Second)
	t.Logf("%s", first)
	// Record ~9 s of real-time video: three 3 s segments, the last one
	// cut short by the stop.
	time.Sleep(9 * time.Second) // the recording's length, not synchronisation
	out.Stop(t, syscall.SIGTERM)
	if st := cmd.ProcessState; !st.Success() {
		t.Fatalf("camwire-init after SIGTERM: %v\noutput:\n%s", st, out.Logs())
	}
	sum, err := camconsole.FindSummary(out.Logs())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", sum.Format())
	if sum.Captured < 200 {
		t.Errorf("captured = %d, want ≥ 200 (9 s at 30 fps)", sum.Captured)
	}
	if sum.Acked != sum.Captured || sum.Dropped != 0 {
		t.Errorf("summary %q: want acked == captured and dropped == 0", sum.Format())
	}

	files := recordings(t, dir)
	if len(files) < 3 {
		t.Fatalf("%d files in %s, want ≥ 3 (3 s segments over ~9 s): %v", len(files), dir, files)
	}
	total := 0
	for _, f := range files {
		n, err := ffprobe.Frames(f)
		if err != nil {
			t.Error(err)
		}
		t.Logf("%s: %d frames", filepath.Base(f), n)
		total += n
	}
	if uint64(total) != sum.Captured {
		t.Errorf("files hold %d frames, summary says captured=%d", total, sum.Captured)
	}
}
