//go:build linux

package main

import (
	"bytes"
	"io"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camwire/camwire/camconsole"
	"github.com/camwire/camwire/internal/ffprobe"
	"github.com/camwire/camwire/internal/testkit"
)

// TestWindowsUnderWine runs camwire-recv.exe, the Windows build, under
// Wine 10 in a Debian trixie root (scripts/wine-root.sh; bookworm's Wine 8
// cannot start Go 1.26 programs) and records into it as a user would on
// a Windows laptop: an old-style `nc` stream, byte for byte; a real
// camwire-init (a Linux process, test source) whose recording is cut by
// Ctrl+C — a console control event from GenerateConsoleCtrlEvent, sent
// by internal/ctrlc — and continued by a second receiver; every file
// ffprobe-clean with as many frames as the camera captured. The folder
// is given as C:\… to the first receiver and as Z:\… to the second: the
// same place under two drive letters, spelt with backslashes.
func TestWindowsUnderWine(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Wine twice; skipped with -short")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to chroot into the Wine root (make test runs as root)")
	}
	for _, tool := range []string{"nc", "ffprobe", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (scripts/deps.sh installs it): %v", tool, err)
		}
	}
	root := wineRoot(t)

	// The work folder is on Wine's C: drive (drive_c of the root's
	// prefix), so C:\NAME and Z:\root\.wine\drive_c\NAME are one folder.
	work, err := os.MkdirTemp(filepath.Join(root, "root", ".wine", "drive_c"), "camwire-wine-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	name := filepath.Base(work)
	onC := `C:\` + name
	onZ := `Z:\root\.wine\drive_c\` + name
	for _, b := range []struct{ pkg, exe string }{{".", "camwire-recv.exe"}, {"./internal/ctrlc", "ctrlc.exe"}} {
		build := exec.Command("go", "build", "-o", filepath.Join(work, b.exe), b.pkg)
		build.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build %s for windows: %v\n%s", b.pkg, err, out)
		}
	}
	initBin := testkit.Build(t, testkit.Module+"/cmd/camwire-init")

	w := startWine(t, root, "127.0.0.1:0", onC)

	// An old-style client: nc sends a stream and shuts the socket down.
	data := make([]byte, 3<<20)
	rand.New(rand.NewSource(9)).Read(data)
	host, port, _ := net.SplitHostPort(w.addr)
	nc := exec.Command("nc", "-N", host, port)
	nc.Stdin = bytes.NewReader(data)
	if out, err := nc.CombinedOutput(); err != nil {
		t.Fatalf("nc: %v\n%s", err, out)
	}
	m := w.WaitLog(t, regexp.MustCompile(`msg="raw stream complete".* renamed_to=(\S+)`), 30*time.Second)
	got, err := os.ReadFile(filepath.Join(work, "rec", "raw-127.0.0.1", m[1]))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("nc stream recorded as %d bytes, not the %d sent byte for byte", len(got), len(data))
	}

	// A camwire camera, one long segment, cut by Ctrl+C on the receiver.
	// Its stdout (the console lines and the summary) joins its log.
	cam := testkit.StartCmd(t, "camwire-init", exec.Command(initBin, "-name", "wine-cam", "-source", "testsrc", "-receiver", w.addr, "-segment", "1h"))
	cam.WaitCount(t, camconsole.FirstAckedPrefix, 1, 30*time.Second)
	time.Sleep(2 * time.Second) // the recording's length, not synchronisation
	w.ctrlC(t)
	if code := w.Cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("camwire-recv.exe exited %d after Ctrl+C, want 0", code)
	}
	for _, want := range []string{"ctrlc: sent CTRL_C_EVENT", "stopped; everything received is fsynced"} {
		if !strings.Contains(w.Logs(), want) {
			t.Errorf("log after Ctrl+C lacks %q", want)
		}
	}
	camDir := filepath.Join(work, "rec", "wine-cam")
	partials, _ := filepath.Glob(filepath.Join(camDir, "*.mp4.partial"))
	if len(partials) != 1 {
		t.Fatalf("after Ctrl+C mid-segment: partials %v, want 1", partials)
	}
	kept, err := os.ReadFile(partials[0])
	if err != nil || len(kept) == 0 {
		t.Fatalf("the .partial after Ctrl+C: %v, %d bytes", err, len(kept))
	}

	// A receiver in the same place, the folder by its Z: name: the camera
	// reconnects, and its segment continues in the .partial Ctrl+C left.
	w2 := startWine(t, root, w.addr, onZ)
	w2.WaitLog(t, regexp.MustCompile(`msg="camera connected`), 60*time.Second)
	if m := regexp.MustCompile(`msg="unfinished recording kept.* bytes=(\d+) durable_bytes=(\d+)`).FindStringSubmatch(w2.Logs()); m == nil ||
		m[1] != strconv.Itoa(len(kept)) || m[2] != m[1] {
		t.Errorf("the second receiver did not keep the %d-byte .partial whole: %q", len(kept), m)
	}
	cam.Stop(t, syscall.SIGTERM) // the camera drains to the receiver and ends its segment
	sum, err := camconsole.FindSummary(cam.Logs())
	if err != nil {
		t.Fatalf("camwire-init's summary: %v\n%s", err, cam.Logs())
	}
	if sum.Acked != sum.Captured || sum.Dropped != 0 || sum.Captured == 0 {
		t.Errorf("camera summary %q: want acked == captured > 0, dropped 0", sum.Format())
	}
	captured := int(sum.Captured)
	w2.ctrlC(t)
	files, _ := filepath.Glob(filepath.Join(camDir, "*.mp4*"))
	if want := strings.TrimSuffix(partials[0], ".partial"); len(files) != 1 || files[0] != want {
		t.Fatalf("camera folder holds %v, want only %s (the .partial, completed)", files, want)
	}
	final, _ := os.ReadFile(files[0])
	if !bytes.HasPrefix(final, kept) {
		t.Errorf("the completed file (%d bytes) does not begin with the %d bytes Ctrl+C left", len(final), len(kept))
	}
	frames, err := ffprobe.Frames(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if frames != captured {
		t.Errorf("%s: ffprobe counts %d frames, the camera captured %d", filepath.Base(files[0]), frames, captured)
	}
	t.Logf("nc: %d bytes identical; camera: %d frames across Ctrl+C in one file", len(data), frames)
}

// wineRoot runs scripts/wine-root.sh (which builds the root once, minutes,
// and caches it in ~/.cache/camwire) and returns the root. It skips when
// the root cannot be made by hand, and fails under make, where it must.
func wineRoot(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("../../scripts/wine-root.sh")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if os.Getenv("MAKELEVEL") == "" {
			t.Skipf("no Wine root: scripts/wine-root.sh: %v\n%s", err, stderr.String())
		}
		t.Fatalf("scripts/wine-root.sh: %v\n%s", err, stderr.String())
	}
	root := strings.TrimSpace(string(out))
	// One Wine session at a time in the root: two wineservers on one
	// prefix would corrupt it. Held until the test ends.
	lock, err := os.OpenFile(filepath.Join(root, ".camwire-run.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lock.Close() })
	return root
}

// wineProc is ctrlc.exe running camwire-recv.exe under Wine in the root.
type wineProc struct {
	*testkit.Proc
	addr string
	ctl  io.WriteCloser // ctrlc.exe's stdin
}

// listenRE finds the address in camwire-recv's first log line.
var listenRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startWine runs camwire-recv.exe (in ctrlc.exe, both in dir) under Wine
// in root, listening on listen and recording into dir\rec, and returns
// once it logs its address. It runs in a mount namespace of its own: the
// root's /proc and /dev are mounted there and vanish with it; the network
// is the host's, so loopback is shared.
func startWine(t *testing.T, root, listen, dir string) *wineProc {
	t.Helper()
	script := `mount -t proc proc "$0/proc" && mount --rbind /dev "$0/dev" && exec chroot "$0" /usr/bin/env -i ` +
		`HOME=/root PATH=/usr/bin:/bin WINEDEBUG=-all WINEDLLOVERRIDES=mscoree,mshtml= wine "$@"`
	cmd := testkit.UnshareMounts(script, root,
		dir+`\ctrlc.exe`, dir+`\camwire-recv.exe`, "-listen", listen, "-dir", dir+`\rec`)
	ctl, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := testkit.StartCmd(t, "wine "+dir+`\camwire-recv.exe`, cmd)
	// Runs before testkit's SIGTERM: EOF on its stdin, and ctrlc.exe ends
	// camwire-recv.exe (a signal would end ctrlc.exe alone).
	t.Cleanup(func() {
		ctl.Close()
		select {
		case <-p.Exited():
		case <-time.After(20 * time.Second):
		}
	})
	// The first start of a Wine session takes seconds.
	addr := p.WaitLog(t, listenRE, 60*time.Second)[1]
	return &wineProc{Proc: p, addr: addr, ctl: ctl}
}

// ctrlC has ctrlc.exe press Ctrl+C and waits for camwire-recv.exe to exit.
func (w *wineProc) ctrlC(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(w.ctl, "ctrl-c\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.Exited():
	case <-time.After(30 * time.Second):
		t.Fatalf("camwire-recv.exe did not exit within 30 s of Ctrl+C:\n%s", w.Logs())
	}
}
