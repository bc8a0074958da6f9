//go:build unix

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/camwire/camwire/camconsole"
	"github.com/camwire/camwire/internal/benchclip"
	"github.com/camwire/camwire/internal/ffprobe"
	"github.com/camwire/camwire/internal/testkit"
)

// BenchmarkPaced is BenchmarkSenderCPU at the camera's pace instead of a
// burst: internal/benchclip/pace writes the real clip (three times over,
// 30 s of 1080p30 16 Mbit/s video, the burst's 60 MB) access unit by
// access unit at 30 fps, and each round, in turns:
//
//	pace | nc            → nc -d -l > file   (the shell-script recorder)
//	pace | gocopy        → gocopy -l > file  (the Go runtime's floor)
//	pace → camwire-init  → camwire-recv -format h264
//	pace → camwire-init  → camwire-recv -format mp4
//
// It reports CPU per MB of camwire-init against the sending nc (goal ≤
// 1.2×), and of camwire-recv against the listening nc (h264 ≤ 1.0×, mp4
// ≤ 1.5×), and of gocopy, the least a Go program does in nc's two roles,
// against nc: the share of camwire's cost over nc that is the Go
// runtime's (its scheduler, netpoller and sysmon around each frame's
// wake-up), which no change to camwire's own code takes away. All in the
// steady state: each process's own CPU (testkit.ProcessCPU,
// children not included) from the first byte on the wire (the sender) or
// from listening (the receiver) to the end of the stream, before it is
// stopped, read the same way for camwire and nc. The start-up before that
// is ms-startup*, the whole run (wait4, exec to exit) ms-cpu/MB*-whole.
// A burst makes the sender hold all it has not had acknowledged
// in fresh memory, a cost a camera-paced sender recycles away; this is the
// figure a camera sees. The pacer's own CPU is in no figure: nc's side
// runs it as a sibling, and camwire-init's wait4 time (which includes the
// camera command it waits for) has the pacer's own getrusage taken out;
// the pacer's CPU on both sides is reported to show it is the same. What
// arrived is checked: nc's file and the concatenated .h264 segments equal
// the clip byte for byte, ffprobe reads every frame from the .mp4 files
// (and decodes the first file), and camwire-init captured and had acknowledged every frame the pacer
// wrote.
func BenchmarkPaced(b *testing.B) {
	for _, k := range benchclip.Kinds {
		b.Run(k.Name, func(b *testing.B) { benchPaced(b, k) })
	}
}

// pacedRepeats is how often each paced run sends the 10 s clip.
const pacedRepeats = 3

func benchPaced(b *testing.B, k benchclip.Kind) {
	needTool(b, "nc")
	needTool(b, "ffprobe")
	dir := shmDir(b)
	path, size := benchclip.Repeated(b, k, pacedRepeats, dir)
	clip, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	pacer := testkit.Build(b, testkit.Module+"/internal/benchclip/pace")
	mb := float64(size) / 1e6
	perMB := func(d time.Duration) float64 { return d.Seconds() * 1e3 / mb }
	gocopy := goCopier(b)
	for range b.N {
		nc := pacedNC(b, dir, pacer, path, clip, ncCopier)
		g := pacedNC(b, dir, pacer, path, clip, gocopy)
		h := pacedCamwire(b, dir, pacer, path, clip, "h264")
		m := pacedCamwire(b, dir, pacer, path, clip, "mp4")
		ms := func(d time.Duration) float64 { return d.Seconds() * 1e3 }
		b.ReportMetric(perMB(h.senderSteady), "ms-cpu/MB")
		b.ReportMetric(perMB(nc.senderSteady), "ms-cpu/MB-nc")
		b.ReportMetric(perMB(m.senderSteady), "ms-cpu/MB-mp4run")
		b.ReportMetric(perMB(h.recvSteady), "ms-cpu/MB-recv-h264")
		b.ReportMetric(perMB(m.recvSteady), "ms-cpu/MB-recv-mp4")
		b.ReportMetric(perMB(nc.recvSteady), "ms-cpu/MB-ncl")
		// The Go runtime's floor: gocopy in nc's two roles.
		b.ReportMetric(perMB(g.senderSteady), "ms-cpu/MB-gocopy")
		b.ReportMetric(perMB(g.recvSteady), "ms-cpu/MB-gocopyl")
		b.ReportMetric(perMB(h.sender), "ms-cpu/MB-whole")
		b.ReportMetric(perMB(nc.sender), "ms-cpu/MB-nc-whole")
		b.ReportMetric(perMB(m.sender), "ms-cpu/MB-mp4run-whole")
		b.ReportMetric(perMB(h.recv), "ms-cpu/MB-recv-h264-whole")
		b.ReportMetric(perMB(m.recv), "ms-cpu/MB-recv-mp4-whole")
		b.ReportMetric(perMB(nc.recv), "ms-cpu/MB-ncl-whole")
		b.ReportMetric(ms(h.senderStartup), "ms-startup")
		b.ReportMetric(ms(nc.senderStartup), "ms-startup-nc")
		b.ReportMetric(ms(h.recvStartup), "ms-startup-recv-h264")
		b.ReportMetric(ms(m.recvStartup), "ms-startup-recv-mp4")
		b.ReportMetric(ms(nc.recvStartup), "ms-startup-ncl")
		b.ReportMetric(perMB(h.pacer), "ms-cpu/MB-pacer")
		b.ReportMetric(perMB(nc.pacer), "ms-cpu/MB-pacer-nc")
		// The pacer's own getrusage against its wait4 time in the same
		// run: what is taken out of camwire-init's figure is all of it.
		b.ReportMetric(perMB(nc.pacerSelf), "ms-cpu/MB-pacer-nc-self")
		// How far the slowest run fell behind the camera (a loaded
		// machine delays the pacer): > 1 means it was not camera pace.
		video := time.Duration(nc.pace.frames-1) * time.Second / benchclip.FPS // first write to last
		wall := max(nc.pace.wall, g.pace.wall, h.pace.wall, m.pace.wall)
		b.ReportMetric(wall.Seconds()/video.Seconds(), "x-realtime")
		b.ReportMetric(float64(max(nc.pace.late, g.pace.late, h.pace.late, m.pace.late).Milliseconds()), "ms-late-max")
	}
}

// pacedResult is one paced run's CPU times: the sending side (nc, or
// camwire-init less the pacer), the receiving side, and the pacer, each
// whole (wait4); and the sender's and receiver's own CPU split into
// start-up and steady state.
type pacedResult struct {
	sender, recv, pacer         time.Duration
	senderStartup, senderSteady time.Duration
	recvStartup, recvSteady     time.Duration
	pacerSelf                   time.Duration // the pacer's own getrusage, for nc's run
	pace                        paceStats
}

// copier is a program in nc's two roles: the shell-script recorder's nc
// itself, or gocopy, the least a Go program does in its place.
type copier struct {
	name   string
	listen func(b *testing.B, outPath string) (lis *exec.Cmd, port string, done func())
	dial   func(port string) *exec.Cmd
}

// ncCopier is `nc 127.0.0.1 PORT` into `nc -d -l > file`.
var ncCopier = copier{
	name: "nc",
	listen: func(b *testing.B, outPath string) (*exec.Cmd, string, func()) {
		lis, port, _, done := testkit.ListenNCFile(b, outPath)
		return lis, port, done
	},
	dial: func(port string) *exec.Cmd { return exec.Command("nc", "127.0.0.1", port) },
}

// goCopier is internal/benchclip/gocopy (the Go runtime's floor) in both
// roles, built once.
func goCopier(b *testing.B) copier {
	bin := testkit.Build(b, testkit.Module+"/internal/benchclip/gocopy")
	return copier{
		name: "gocopy",
		listen: func(b *testing.B, outPath string) (*exec.Cmd, string, func()) {
			return testkit.ListenFileLikeNC(b, outPath, bin, "-l")
		},
		dial: func(port string) *exec.Cmd { return exec.Command(bin, "127.0.0.1:"+port) },
	}
}

// pacedNC runs pace | nc into nc -d -l > file (or the same with another
// copier) and checks the file is the clip. The sending nc's CPU is read
// when the first byte has reached the file and when the whole clip has,
// nc -l's when it listens and at that end; the sending nc runs without
// -N, so the connection stays open and both stay alive (nc -l exits at
// EOF) until then, and is stopped after.
func pacedNC(b *testing.B, dir, pacer, path string, clip []byte, cp copier) pacedResult {
	b.Helper()
	outPath := filepath.Join(dir, cp.name+".out")
	lis, port, done := cp.listen(b, outPath)
	defer done()
	lisStart := testkit.CPUOf(b, lis.Process.Pid)

	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	// The pipe camwire-init's exec source reads from is grown to 1 MiB
	// (capture's growPipe); the pacer gets the same one here.
	unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, 1<<20)
	cpuFile := filepath.Join(b.TempDir(), "pace-"+cp.name+".cpu")
	var paceErr, ncErr bytes.Buffer
	pc := exec.Command(pacer, "-cpu", cpuFile, path)
	pc.Stdout, pc.Stderr = w, &paceErr
	nc := cp.dial(port)
	nc.Stdin, nc.Stderr = r, &ncErr
	if err := pc.Start(); err != nil {
		b.Fatal(err)
	}
	if err := nc.Start(); err != nil {
		b.Fatal(err)
	}
	r.Close()
	w.Close()
	testkit.WaitSize(b, outPath, 1, time.Minute)
	ncStart := testkit.CPUOf(b, nc.Process.Pid)
	testkit.WaitSize(b, outPath, int64(len(clip)), 5*time.Minute)
	ncEnd, lisEnd := testkit.CPUOf(b, nc.Process.Pid), testkit.CPUOf(b, lis.Process.Pid)
	if err := pc.Wait(); err != nil {
		b.Fatalf("pace: %v\n%s", err, paceErr.Bytes())
	}
	nc.Process.Signal(syscall.SIGTERM)
	nc.Wait() // ended by SIGTERM
	if err := lis.Wait(); err != nil {
		b.Fatalf("%s -l: %v (sender's stderr: %s)", cp.name, err, ncErr.Bytes())
	}
	got, err := os.ReadFile(outPath)
	if err != nil {
		b.Fatal(err)
	}
	if !bytes.Equal(got, clip) {
		b.Fatalf("%s -l stored %d bytes that are not the clip's %d", cp.name, len(got), len(clip))
	}
	self, st := readPaceCPU(b, cpuFile)
	return pacedResult{
		sender: cpu(nc.ProcessState), recv: cpu(lis.ProcessState), pacer: cpu(pc.ProcessState), pacerSelf: self, pace: st,
		senderStartup: ncStart, senderSteady: ncEnd - ncStart,
		recvStartup: lisStart, recvSteady: lisEnd - lisStart,
	}
}

// pacedCamwire runs the pacer as camwire-init's camera into a
// camwire-recv recording format, and checks what it recorded.
// camwire-init's CPU is read when camwire-recv logs its connection (the
// hello, its first bytes) and once the pacer's restart idles (every
// frame handed to the sender), before SIGTERM; camwire-recv's when it
// listens and when the session has ended ("camera disconnected"), before
// SIGTERM.
func pacedCamwire(b *testing.B, dir, pacer, path string, clip []byte, format string) pacedResult {
	b.Helper()
	rec := filepath.Join(dir, "rec-"+format)
	defer os.RemoveAll(rec)
	recv := testkit.StartRecv(b, "", "-dir", rec, "-format", format, "-diagnose-after", "0")
	recvStart := testkit.CPUOf(b, recv.Cmd.Process.Pid)
	tmp := b.TempDir()
	cpuFile := filepath.Join(tmp, "pace.cpu")
	camera := fmt.Sprintf("%s -once %s -cpu %s %s", pacer, filepath.Join(tmp, "paced"), cpuFile, path)
	cmd := exec.Command(initBin(b), "-source", "exec", "-exec", camera, "-receiver", recv.Addr, "-segment", "3s")
	p := testkit.StartCmd(b, "camwire-init", cmd)
	recv.WaitCount(b, "camera connected", 1, time.Minute)
	initStart := testkit.CPUOf(b, cmd.Process.Pid)
	// Once the restarted pacer idles, every pacer run has reported its
	// CPU and the last access unit has been flushed to the sender.
	p.WaitFor(b, "the pacer's restart idling", 5*time.Minute, func(log string) bool {
		return strings.Contains(log, "idle until SIGTERM")
	})
	initEnd := testkit.CPUOf(b, cmd.Process.Pid)
	p.Stop(b, syscall.SIGTERM)
	pacerCPU, st := readPaceCPU(b, cpuFile)
	sum, err := camconsole.FindSummary(p.Logs())
	if err != nil {
		b.Fatalf("camwire-init: %v", err)
	}
	if sum.Dropped != 0 || sum.Acked != sum.Captured || sum.Captured != uint64(st.frames) {
		b.Fatalf("camwire-init: %s, the pacer wrote %d frames", sum.Format(), st.frames)
	}
	recv.WaitCount(b, "camera disconnected", 1, time.Minute)
	recvEnd := testkit.CPUOf(b, recv.Cmd.Process.Pid)
	recv.Stop(b, syscall.SIGTERM)
	files := recordings(b, rec)
	slices.Sort(files) // one camera folder; names start with the segment's start time
	if len(files) == 0 {
		b.Fatalf("camwire-recv -format %s stored no file", format)
	}
	switch format {
	case "h264":
		var got []byte
		for _, f := range files {
			d, err := os.ReadFile(f)
			if err != nil {
				b.Fatal(err)
			}
			got = append(got, d...)
		}
		if !bytes.Equal(got, clip) {
			b.Fatalf("the %d .h264 files hold %d bytes that are not the clip's %d", len(files), len(got), len(clip))
		}
	case "mp4":
		n := 0
		for _, f := range files {
			n += ffprobePackets(b, f)
		}
		if n != st.frames {
			b.Fatalf("ffprobe counts %d frames in %d .mp4 files, the pacer wrote %d", n, len(files), st.frames)
		}
		// Decoding all of them takes this shared machine a minute a run:
		// the first file is decoded in full, and must give every frame.
		dec, err := ffprobe.Frames(files[0])
		if err != nil {
			b.Fatal(err)
		}
		if want := ffprobePackets(b, files[0]); dec != want {
			b.Fatalf("%s: ffprobe decoded %d of its %d frames", files[0], dec, want)
		}
	}
	return pacedResult{
		sender: cpu(cmd.ProcessState) - pacerCPU,
		recv:   cpu(recv.Cmd.ProcessState),
		pacer:  pacerCPU,
		pace:   st,

		senderStartup: initStart, senderSteady: initEnd - initStart,
		recvStartup: recvStart, recvSteady: recvEnd - recvStart,
	}
}

// ffprobePackets is how many video frames ffprobe reads from path
// (-count_packets: demuxed, not decoded).
func ffprobePackets(b *testing.B, path string) int {
	b.Helper()
	cmd := exec.Command("ffprobe", "-v", "error", "-count_packets", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		b.Fatalf("ffprobe %s: %v: %s", path, err, stderr.Bytes())
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		b.Fatalf("ffprobe %s: packet count %q", path, out)
	}
	return n
}

// cpu is the user+system time of an exited child, with the children it
// waited for.
func cpu(ps *os.ProcessState) time.Duration { return ps.UserTime() + ps.SystemTime() }

// paceStats is the pacing run's figures from the pacer's -cpu file.
type paceStats struct {
	frames     int
	wall, late time.Duration
}

var paceLineRE = regexp.MustCompile(`^cpu_ns=(\d+) frames=(\d+) bytes=(\d+) wall_ns=(\d+) late_ns=(\d+)$`)

// readPaceCPU adds up the CPU of every pacer run in file and returns it
// with the one run that paced (the others found the -once marker).
func readPaceCPU(b *testing.B, file string) (time.Duration, paceStats) {
	b.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		b.Fatalf("the pacer's CPU report: %v", err)
	}
	var total time.Duration
	var st paceStats
	paced := 0
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		m := paceLineRE.FindStringSubmatch(l)
		if m == nil {
			b.Fatalf("pacer's report %s: line %q", file, l)
		}
		v := make([]int64, 5)
		for i := range v {
			v[i], _ = strconv.ParseInt(m[i+1], 10, 64)
		}
		total += time.Duration(v[0])
		if v[1] > 0 {
			paced++
			st = paceStats{frames: int(v[1]), wall: time.Duration(v[3]), late: time.Duration(v[4])}
		}
	}
	if paced != 1 {
		b.Fatalf("pacer's report %s: %d runs paced, want 1:\n%s", file, paced, data)
	}
	return total, st
}

// shmDir is where paced runs keep the clip and the recordings: tmpfs
// when there is one, so both receivers write to memory and the figures
// compare the programs, not the shared disk (nc -l never fsyncs).
func shmDir(b *testing.B) string {
	b.Helper()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "camwire-paced"); err == nil {
			b.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return b.TempDir()
}
