package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/camwire/camwire/camconsole"
	"github.com/camwire/camwire/image"
	"github.com/camwire/camwire/image/imagetest"
	"github.com/camwire/camwire/internal/ffprobe"
	"github.com/camwire/camwire/internal/qemu"
	"github.com/camwire/camwire/internal/testkit"
	"github.com/camwire/camwire/pid1"
	"github.com/camwire/camwire/recv"
)

// The tests here boot the real camwire-init as PID 1 on QEMU's virt
// machine: the kernel and initramfs of a built image, settings on the
// kernel command line (virt has no SD card), the test picture streamed
// through QEMU's user network to a receiver on the host's loopback
// (10.0.2.2 from the guest).

const camwireInit = "github.com/camwire/camwire/cmd/camwire-init"

// Console markers: the console contract (camconsole) and netcfg's log.
var (
	reInitStart  = camconsole.Match(camconsole.InitStart)
	reAddress    = regexp.MustCompile(`netcfg: AddrReplace eth0 10\.0\.2\.15/24$`)
	reFirstSent  = camconsole.Match(camconsole.FirstSentPrefix)
	reFirstAcked = camconsole.Match(camconsole.FirstAckedPrefix)
	reRecording  = camconsole.Match(camconsole.StateRecording.Line())
	reNoReceiver = camconsole.Match(camconsole.StateNoReceiver.Line())
	reShutdown   = camconsole.Match(camconsole.ShutdownLine(syscall.SIGINT))
	reSummary    = camconsole.SummaryRE
	rePowerOff   = camconsole.Match(camconsole.PowerOff)
)

// virtAppend is the kernel command line for a camera that streams the
// test picture to the host's port, plus extra camwire.KEY=VALUE words.
func virtAppend(port int, extra ...string) string {
	return strings.Join(append([]string{
		"console=ttyAMA0 rdinit=/init panic=-1 quiet",
		"camwire.name=virt", "camwire.address=10.0.2.15/24",
		"camwire.receiver=10.0.2.2:" + strconv.Itoa(port),
		"camwire.source=testsrc",
	}, extra...), " ")
}

// shutdown presses Ctrl-Alt-Del and waits for the clean path: PID 1 sees
// SIGINT, the recorder drains and prints its summary, PID 1 powers off
// and QEMU exits. It returns the summary.
func shutdown(t *testing.T, ctx context.Context, m *qemu.Machine, cur *qemu.Cursor) camconsole.Summary {
	t.Helper()
	if err := m.CtrlAltDel(); err != nil {
		t.Fatal(err)
	}
	var sum qemu.Line
	for _, re := range []*regexp.Regexp{reShutdown, reSummary, rePowerOff} {
		l, err := m.WaitFor(ctx, cur, re)
		if err != nil {
			t.Fatal(err)
		}
		if re == reSummary {
			sum = l
		}
	}
	if err := m.Wait(ctx); err != nil {
		t.Fatalf("qemu after power off: %v", err)
	}
	t.Logf("guest: %s", sum.Text)
	s, err := camconsole.ParseSummary(sum.Text)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// ffprobeFrames decodes a recording and returns its frame count.
func ffprobeFrames(t *testing.T, path string) int {
	t.Helper()
	n, err := ffprobe.Frames(path)
	if err != nil {
		t.Error(err)
	}
	return n
}

// recordedFrames checks the receiver's folder after a clean stop: no
// file left unfinished, every recording decodes; it returns the frames
// in all of them.
func recordedFrames(t *testing.T, dir string) (files, frames int) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		switch {
		case err != nil || d.IsDir():
		case strings.HasSuffix(p, ".partial"):
			t.Errorf("%s: still unfinished after a clean stop", p)
		case strings.HasSuffix(p, ".h264"), strings.HasSuffix(p, ".mp4"):
			n := ffprobeFrames(t, p)
			t.Logf("%s: %d frames", filepath.Base(p), n)
			files++
			frames += n
		}
		return nil
	})
	return files, frames
}

// checkFrames: every captured frame was acknowledged and is in a file,
// none twice.
func checkFrames(t *testing.T, sum camconsole.Summary, files, frames, wantFiles int) {
	t.Helper()
	if sum.Captured < 60 {
		t.Errorf("captured = %d, want ≥ 60 (seconds of 30 fps)", sum.Captured)
	}
	if sum.Acked != sum.Captured || sum.Dropped != 0 {
		t.Errorf("guest summary %q: want acked == captured, dropped=0", sum.Format())
	}
	if files < wantFiles {
		t.Errorf("%d recordings, want ≥ %d", files, wantFiles)
	}
	if uint64(frames) != sum.Captured {
		t.Errorf("recordings hold %d frames, guest captured %d (lost or duplicated: %+d)", frames, sum.Captured, int64(frames)-int64(sum.Captured))
	}
}

// tlog is an io.Writer into the test log, for slog and process output.
type tlog struct {
	t      *testing.T
	prefix string
}

func (w tlog) Write(b []byte) (int, error) {
	w.t.Log(w.prefix + strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func testLogger(t *testing.T, prefix string) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tlog{t, prefix}, nil))
}

// TestVirtRecord is issue 4's emulated-board test: the real camwire-init
// boots as PID 1, loads the virtio modules, sets 10.0.2.15/24 with
// netlink and streams the test picture into an in-process receiver;
// Ctrl-Alt-Del shuts it down cleanly, and every frame the guest captured
// is in a file that decodes, exactly once.
func TestVirtRecord(t *testing.T) {
	imagetest.Require(t, lookPath("ffprobe"))
	b := buildImage(t, imagetest.Init(t, camwireInit), image.BootOptions{})

	dir := t.TempDir()
	finished := make(chan string, 64)
	reports := make(chan [2]string, 4)
	srv := &recv.Server{Dir: dir, Logger: testLogger(t, "recv: "),
		OnFile:   func(_, p string) { finished <- p },
		OnReport: func(_, p, text string) { reports <- [2]string{p, text} }}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srvCtx, srvStop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(srvCtx, ln) }()
	stopServer := sync.OnceValue(func() error { srvStop(); return <-served })
	defer stopServer()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m := start(t, ctx, qemu.Config{Board: qemu.Virt, Kernel: b.Kernel, Initrd: b.Initrd,
		Append: virtAppend(ln.Addr().(*net.TCPAddr).Port, "camwire.segment=2s")})
	var cur qemu.Cursor
	initLine, err := m.WaitFor(ctx, &cur, reInitStart)
	if err != nil {
		t.Fatal(err)
	}
	// The boot checklist: one timed line per step, in pid1's order.
	steps, times := cur, []string{}
	for _, name := range pid1.BootSteps() {
		l, err := m.WaitFor(ctx, &steps, camconsole.Match(camconsole.BootStepPrefix+name+" "))
		if err != nil {
			t.Fatalf("boot step %s (in checklist order): %v", name, err)
		}
		bs, ok := camconsole.ParseBootStep(l.Text)
		if !ok {
			t.Fatalf("%q does not parse as a boot step", l.Text)
		}
		times = append(times, fmt.Sprintf("%s %.2fs", bs.Name, bs.Took.Seconds()))
	}
	t.Logf("boot steps: %s", strings.Join(times, ", "))
	for _, re := range []*regexp.Regexp{reAddress, reFirstSent} {
		l, err := m.WaitFor(ctx, &cur, re)
		if err != nil {
			t.Fatal(err)
		}
		if re == reFirstSent {
			t.Logf("qemu start → init start %v, init start → first frame sent %v",
				initLine.At.Sub(m.Started).Round(time.Millisecond), l.At.Sub(initLine.At).Round(time.Millisecond))
		}
	}
	// Three 2 s files finished: about 6 s of video, then the stop cuts a
	// fourth short.
	for i := 0; i < 3; i++ {
		select {
		case <-finished:
		case <-ctx.Done():
			t.Fatalf("only %d files finished: %v", i, ctx.Err())
		}
	}
	sum := shutdown(t, ctx, m, &cur)
	if err := stopServer(); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Serve: %v", err)
	}
	files, frames := recordedFrames(t, dir)
	checkFrames(t, sum, files, frames, 3)

	// One boot report, in the camera's folder, from QEMU's virt board.
	if n := len(reports); n != 1 {
		t.Fatalf("%d boot reports, want 1", n)
	}
	rep := <-reports
	t.Logf("boot report %s:\n%s", rep[0], rep[1])
	if filepath.Dir(rep[0]) != filepath.Join(dir, "virt", ".camwire", "boot") {
		t.Errorf("boot report stored as %s, want it in virt/.camwire/boot", rep[0])
	}
	for _, want := range []string{"camwire boot report: virt on ", "\ncompatible: linux,dummy-virt", "\nkernel:   Linux version 6.1.",
		"\nboard as PID 1 saw it: qemu-virt", "\nlink eth0: up, "} {
		if !strings.Contains(rep[1], want) {
			t.Errorf("boot report lacks %q", want)
		}
	}
}

func TestMain(m *testing.M) { testkit.Main(m) }

// recvProc is a camwire-recv process that can be killed and started again
// on the same folder and address.
type recvProc struct {
	t    *testing.T
	dir  string
	addr string // "" until the first run listens on a port of its choice
	runs []*testkit.RecvProc
}

// buildRecv is camwire-recv for this machine, built once.
func buildRecv(t *testing.T) string {
	t.Helper()
	return testkit.Build(t, testkit.Recv)
}

// start runs the receiver and returns once it listens: the first run on
// a free port, every later one on the same address.
func (r *recvProc) start() {
	r.t.Helper()
	p := testkit.StartRecv(r.t, r.addr, "-dir", r.dir, "-diagnose-after", "0")
	r.addr = p.Addr
	r.runs = append(r.runs, p)
}

func (r *recvProc) cur() *testkit.RecvProc { return r.runs[len(r.runs)-1] }

// waitFor waits until the current run has printed n lines containing s,
// at most until ctx's deadline.
func (r *recvProc) waitFor(ctx context.Context, s string, n int) {
	r.t.Helper()
	dl, _ := ctx.Deadline()
	r.cur().WaitCount(r.t, s, n, time.Until(dl))
}

// count returns how many lines of the current run contain s.
func (r *recvProc) count(s string) int { return r.cur().Count(s) }

// stop ends the receiver with sig and waits for it.
func (r *recvProc) stop(sig syscall.Signal) { r.cur().Stop(r.t, sig) }

// output is every run's log.
func (r *recvProc) output() string {
	var b strings.Builder
	for _, p := range r.runs {
		b.WriteString(p.Logs())
	}
	return b.String()
}

// TestVirtFaults: the camera's cable is out for 10 s, and separately the
// laptop's receiver is killed (SIGKILL, no chance to sync) and started
// again on the same folder. Nothing is lost or duplicated: every frame
// the guest captured is in exactly one decodable file, the guest dropped
// none, and the receiver never saw a Gap.
func TestVirtFaults(t *testing.T) {
	imagetest.Require(t, lookPath("ffprobe"))
	b := buildImage(t, imagetest.Init(t, camwireInit), image.BootOptions{})
	r := &recvProc{t: t, dir: t.TempDir()}
	r.start()
	defer func() {
		r.stop(syscall.SIGTERM)
		if t.Failed() {
			t.Logf("camwire-recv output:\n%s", r.output())
		}
	}()
	_, port, _ := net.SplitHostPort(r.addr)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	m := start(t, ctx, qemu.Config{Board: qemu.Virt, Kernel: b.Kernel, Initrd: b.Initrd,
		Append: virtAppend(atoi(port), "camwire.segment=3s")})
	var cur qemu.Cursor
	wait := func(re *regexp.Regexp) qemu.Line {
		t.Helper()
		l, err := m.WaitFor(ctx, &cur, re)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	wait(reFirstAcked)

	// Cable out for 10 s: the sender buffers, notices the silence, and
	// once the cable is back resumes after the receiver's last ack.
	if err := m.SetLink("n0", false); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	wait(reNoReceiver)                                 // no ack for 5 s
	time.Sleep(time.Until(down.Add(10 * time.Second))) // the rest of the outage: a duration, not a wait for an event
	if err := m.SetLink("n0", true); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	wait(reRecording)
	t.Logf("link up → recording again after %v", time.Since(up).Round(time.Millisecond))

	// Receiver killed mid-segment and started again on the same folder.
	// The kill follows a "segment started" line (logged once the
	// .partial and its journal entry exist), so it lands inside a 3 s
	// segment, not in the few ms between one segment's rename and the
	// next one's create. Even there, none unfinished is no failure:
	// the frame counts below are what must hold.
	r.waitFor(ctx, "segment started", r.count("segment started")+1)
	r.stop(syscall.SIGKILL)
	partial, _ := filepath.Glob(filepath.Join(r.dir, "virt", "*.partial"))
	t.Logf("camwire-recv killed; unfinished: %d", len(partial))
	if len(partial) > 1 {
		t.Errorf("after the kill: unfinished files %v, want at most 1 (one segment is open at a time)", partial)
	}
	r.start()
	// The camera finds the new receiver, which finishes the segment the
	// kill interrupted (resumed from its journal) and records on.
	r.waitFor(ctx, "camera connected", 1)
	r.waitFor(ctx, "segment complete", 2)

	sum := shutdown(t, ctx, m, &cur)
	r.stop(syscall.SIGTERM)
	if out := r.output(); strings.Contains(out, "gap") {
		t.Errorf("the receiver logged a gap (frames the camera dropped):\n%s", out)
	}
	// The receiver's journal counts Gap records ("gaps", left out at 0).
	journals, _ := filepath.Glob(filepath.Join(r.dir, "virt", ".camwire", "*.journal"))
	if len(journals) == 0 {
		t.Errorf("no receiver journal in %s", filepath.Join(r.dir, "virt", ".camwire"))
	}
	for _, j := range journals {
		if b, err := os.ReadFile(j); err != nil || strings.Contains(string(b), `"gaps":`) {
			t.Errorf("journal %s: gaps recorded (or unreadable: %v)", j, err)
		}
	}
	// The segment the kill interrupted was resumed and finished under
	// its own name, not abandoned.
	for _, p := range partial {
		if _, err := os.Stat(strings.TrimSuffix(p, ".partial")); err != nil {
			t.Errorf("%s, unfinished at the kill, was not completed by the restarted receiver: %v", filepath.Base(p), err)
		}
	}
	files, frames := recordedFrames(t, r.dir)
	checkFrames(t, sum, files, frames, 3)
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func lookPath(name string) error {
	_, err := exec.LookPath(name)
	return err
}
