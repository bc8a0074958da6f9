package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/camwire/camwire/camconsole"
	"github.com/camwire/camwire/capture"
	"github.com/camwire/camwire/internal/benchclip"
	"github.com/camwire/camwire/internal/testkit"
	"github.com/camwire/camwire/recv"
	"github.com/camwire/camwire/segment"
)

// Binary-level benchmarks of camwire-init as a plain process. Each prints
// its figure next to a baseline measured in the same run:
//
//	BenchmarkPaced           CPU per MB at camera pace (30 fps): camwire-init vs pace | nc, and
//	                         camwire-recv (h264, mp4) vs nc -l > file, fed by the same paced sender
//	BenchmarkSenderCPU       CPU per MB of a burst: camwire-init (exec source "cat FILE") vs cat FILE | nc
//	BenchmarkSenderRSS       peak RSS (VmHWM) of camwire-init recording in real time (buffer nearly empty)
//	BenchmarkSegmentEdgeLoss frames lost at segment edges: camwire vs restarting the capture per file

// benchReceiver runs an in-process receiver; its CPU is not the sender's.
func benchReceiver(b *testing.B) (*recv.Server, string) {
	b.Helper()
	return benchReceiverFirst(b, func() {})
}

// benchReceiverFirst is benchReceiver that calls first once, in the read
// that gets the first byte from a sender: where BenchmarkSenderCPU reads
// the sender's CPU to split its start-up from its steady state.
func benchReceiverFirst(b *testing.B, first func()) (*recv.Server, string) {
	b.Helper()
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ln := &firstByteListener{Listener: tl, first: first}
	ctx, cancel := context.WithCancel(context.Background())
	srv := &recv.Server{Dir: b.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ctx, ln) }()
	b.Cleanup(func() { cancel(); <-done })
	return srv, ln.Addr().String()
}

// videoFile writes the real 1080p30 16 Mbit/s clip of kind k three
// times over (~60 MB, 30 s of camera time): real frame sizes, slices and
// headers, not zeros.
func videoFile(b *testing.B, k benchclip.Kind) (string, int64) {
	b.Helper()
	return benchclip.Repeated(b, k, 3, b.TempDir())
}

// firstByteListener calls first once, in the Read that returns the
// first byte of any connection it accepted.
type firstByteListener struct {
	net.Listener
	once  sync.Once
	first func()
}

func (l *firstByteListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return firstByteConn{Conn: c, l: l}, nil
}

type firstByteConn struct {
	net.Conn
	l *firstByteListener
}

func (c firstByteConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.l.once.Do(c.l.first)
	}
	return n, err
}

// firstCPU returns a func for benchReceiverFirst that reads the CPU of
// the process whose pid is sent on the returned channel (once it has
// started), and a channel that then gets that reading.
func firstCPU(b *testing.B) (func(), chan<- int, <-chan time.Duration) {
	pidc, cpuc := make(chan int, 1), make(chan time.Duration, 1)
	return func() {
		d, err := testkit.ProcessCPU(<-pidc)
		if err != nil {
			b.Error(err)
		}
		cpuc <- d
	}, pidc, cpuc
}

// storedBytes is what the receiver stored so far from connections in
// mode ("raw" for nc's streams, "framed" for camwire cameras).
func storedBytes(srv *recv.Server, mode string) uint64 {
	var n uint64
	for _, s := range srv.Status() {
		if s.Mode == mode {
			n += s.Bytes
		}
	}
	return n
}

// waitStored waits until stored() reaches want and returns it (or what
// it got in 2 minutes). The receiver's counters have no event, so it
// looks every millisecond; that costs the test's CPU, not the sender's.
func waitStored(stored func() uint64, want uint64) uint64 {
	deadline := time.Now().Add(2 * time.Minute)
	for stored() < want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	return stored()
}

func cpuSeconds(ps *os.ProcessState) float64 {
	// wait4's rusage includes the children the process waited for (cat,
	// sh, nc), so both sides count the same helpers.
	return (ps.UserTime() + ps.SystemTime()).Seconds()
}

// BenchmarkSenderCPU: CPU per MB of camwire-init sending each real clip
// (splitter, segmenter, sender) against cat | nc sending the same file,
// alternating, as a burst: cat delivers 30 s of video in well under a
// second, faster than the receiver acknowledges (after fsync), so the
// sender holds most of the clip at once in fresh memory (it drops nothing
// unacknowledged), while nc pushes back on cat. BenchmarkPaced is the same
// comparison at the camera's pace. Goal ≤ 1.2× nc, in the steady state
// (ms-cpu/MB): each sender's own CPU (its threads, not cat's) from the
// first byte the receiver reads to the last byte stored, before the
// sender is stopped, read the same way for camwire-init and nc (which
// runs without -N, so it stays connected until then). ms-startup is the
// CPU from exec to that first byte; ms-cpu/MB-whole the whole run from
// wait4, with the children waited for (sh, cat) on both sides.
func BenchmarkSenderCPU(b *testing.B) {
	for _, k := range benchclip.Kinds {
		b.Run(k.Name, func(b *testing.B) { benchSenderCPU(b, k) })
	}
}

func benchSenderCPU(b *testing.B, k benchclip.Kind) {
	bin := initBin(b)
	needTool(b, "nc")
	path, size := videoFile(b, k)
	mb := float64(size) / 1e6
	// The splitter knows the file's last access unit is complete only
	// when the next one starts or the command exits; wait for the rest.
	data, _ := os.ReadFile(path)
	var sp segment.Splitter
	aus, err := sp.Write(data, 0)
	if err != nil || len(aus) == 0 {
		b.Fatalf("splitting the video: %d AUs, %v", len(aus), err)
	}
	rest := sp.Flush()
	want := uint64(size) - uint64(len(rest[len(rest)-1].Data))
	var cam, nc struct{ whole, startup, steady float64 }
	for i := 0; i < b.N; i++ {
		// camwire-init: the exec source runs cat once, then idles, so
		// every byte of the file goes through splitter, segmenter, sender.
		first, pidc, cpuc := firstCPU(b)
		srv, addr := benchReceiverFirst(b, first)
		cmd := exec.Command(bin, "-source", "exec",
			"-exec", fmt.Sprintf("sh -c 'cat %s && exec sleep 3600'", path),
			"-receiver", addr, "-segment", "3s")
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		pidc <- cmd.Process.Pid
		got := waitStored(func() uint64 { return storedBytes(srv, "framed") }, want)
		end := testkit.CPUOf(b, cmd.Process.Pid)
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			b.Fatalf("camwire-init: %v\n%s", err, out.String())
		}
		if got < want {
			b.Fatalf("receiver stored %d of %d bytes within 2 minutes", got, want)
		}
		sum, err := camconsole.FindSummary(out.String())
		if err != nil {
			b.Fatal(err)
		}
		if sum.Dropped != 0 || sum.Acked != sum.Captured {
			b.Fatalf("camwire-init lost frames: %s", sum.Format())
		}
		start := <-cpuc
		cam.whole += cpuSeconds(cmd.ProcessState)
		cam.startup += start.Seconds()
		cam.steady += (end - start).Seconds()

		// Baseline: the shell-script recorder's sending half.
		first, pidc, cpuc = firstCPU(b)
		srv, addr = benchReceiverFirst(b, first)
		host, port, _ := net.SplitHostPort(addr)
		r, w, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		cat := exec.Command("sh", "-c", "cat "+path)
		cat.Stdout = w
		ncCmd := exec.Command("nc", host, port)
		ncCmd.Stdin = r
		var ncOut bytes.Buffer
		ncCmd.Stdout, ncCmd.Stderr = &ncOut, &ncOut
		if err := cat.Start(); err != nil {
			b.Fatal(err)
		}
		if err := ncCmd.Start(); err != nil {
			b.Fatal(err)
		}
		r.Close()
		w.Close()
		pidc <- ncCmd.Process.Pid
		got = waitStored(func() uint64 { return storedBytes(srv, "raw") }, uint64(size))
		end = testkit.CPUOf(b, ncCmd.Process.Pid)
		ncCmd.Process.Signal(syscall.SIGTERM)
		ncCmd.Wait() // ended by SIGTERM
		if err := cat.Wait(); err != nil {
			b.Fatalf("cat: %v", err)
		}
		if got < uint64(size) {
			b.Fatalf("receiver stored %d of %d bytes from cat | nc within 2 minutes:\n%s", got, size, ncOut.Bytes())
		}
		start = <-cpuc
		nc.whole += cpuSeconds(cat.ProcessState) + cpuSeconds(ncCmd.ProcessState)
		nc.startup += start.Seconds()
		nc.steady += (end - start).Seconds()
	}
	perMB := func(s float64) float64 { return s / float64(b.N) / mb * 1e3 }
	ms := func(s float64) float64 { return s / float64(b.N) * 1e3 }
	b.ReportMetric(perMB(cam.steady), "ms-cpu/MB")
	b.ReportMetric(perMB(nc.steady), "ms-cpu/MB-nc")
	b.ReportMetric(cam.steady/nc.steady, "x-nc-cpu")
	b.ReportMetric(perMB(cam.whole), "ms-cpu/MB-whole")
	b.ReportMetric(perMB(nc.whole), "ms-cpu/MB-nc-whole")
	b.ReportMetric(ms(cam.startup), "ms-startup")
	b.ReportMetric(ms(nc.startup), "ms-startup-nc")
}

// vmHWM reads the peak resident set of a process, in bytes.
func vmHWM(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

// BenchmarkSenderRSS records 6 s of real-time test video into a receiver
// that acknowledges every 500 ms, so the buffer holds well under 1 MB:
// the peak RSS is the recorder's own cost. Goal ≤ 16 MiB.
func BenchmarkSenderRSS(b *testing.B) {
	bin := initBin(b)
	var peak int64
	for i := 0; i < b.N; i++ {
		_, addr := benchReceiver(b)
		cmd := exec.Command(bin, "-source", "testsrc",
			"-receiver", addr, "-segment", "2s")
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		stop := time.After(6 * time.Second)
		tick := time.NewTicker(100 * time.Millisecond)
	loop:
		for {
			select {
			case <-tick.C:
				if v, err := vmHWM(cmd.Process.Pid); err == nil {
					peak = max(peak, v)
				}
			case <-stop:
				break loop
			}
		}
		tick.Stop()
		if v, err := vmHWM(cmd.Process.Pid); err == nil {
			peak = max(peak, v)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			b.Fatalf("camwire-init: %v\n%s", err, out.String())
		}
	}
	b.ReportMetric(float64(peak)/(1<<20), "MiB-VmHWM")
	b.ReportMetric(float64(peak)/(16<<20), "x-goal-16MiB")
}

// BenchmarkSegmentEdgeLoss compares frames lost where one file ends and
// the next begins, both with the real-time test source for 8 s in 2 s
// files. camwire runs one capture and the Segmenter cuts it at keyframes;
// a lost frame would show as a timestamp step between files. The old
// recorder (raspivid -t … | nc, in a loop) restarted the capture for every
// file: the loop here stops the capture, starts the camera process again
// (ffmpeg writing the clip as H.264 to a pipe, timed until its first
// access unit arrives, during which no capture runs), then captures for the
// rest of the file's length. Lost = frames the clock produced over the
// whole run minus frames captured. raspivid needs far longer than ffmpeg to
// bring up a camera, so the old approach's figure is a lower bound.
func BenchmarkSegmentEdgeLoss(b *testing.B) {
	needTool(b, "ffmpeg")
	const (
		total  = 8 * time.Second
		length = 2 * time.Second
		fps    = capture.ClipFPS
		frame  = time.Second / fps
	)
	clip := filepath.Join(b.TempDir(), "clip.h264")
	if err := os.WriteFile(clip, capture.TestClip(), 0o644); err != nil {
		b.Fatal(err)
	}
	// startCamera starts the camera process and returns once its first
	// access unit is out: the restart's dead time.
	startCamera := func() {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		(&capture.Exec{
			Command: []string{"ffmpeg", "-v", "error", "-i", clip, "-c", "copy", "-f", "h264", "-"},
			Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		}).Run(ctx, func(segment.AU) { cancel() })
	}
	var camLost, oldLost, camFiles, oldFiles int
	var dead time.Duration
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), total)
		seg := segment.Segmenter{Length: length}
		var last time.Duration
		(&capture.TestSource{}).Run(ctx, func(au segment.AU) {
			ended, _, out, ok := seg.Push(au)
			if !ok {
				camLost++
				return
			}
			if ended != nil {
				camFiles++
				camLost += int((out.Time-last+frame/2)/frame) - 1
			}
			last = out.Time
		})
		cancel()
		camFiles++

		start := time.Now()
		captured := 0
		for time.Since(start) < total {
			fileStart := time.Now()
			if oldFiles > 0 {
				startCamera()
				dead += time.Since(fileStart)
			}
			left := min(length-time.Since(fileStart), total-time.Since(start))
			ctx, cancel := context.WithTimeout(context.Background(), max(left, 0))
			(&capture.TestSource{}).Run(ctx, func(segment.AU) { captured++ })
			cancel()
			oldFiles++
		}
		produced := int((time.Since(start) + frame/2) / frame)
		oldLost += max(produced-captured, 0)
	}
	n := float64(b.N)
	b.ReportMetric(float64(camLost)/n, "frames-lost-camwire")
	b.ReportMetric(float64(oldLost)/n, "frames-lost-restart")
	b.ReportMetric(float64(camFiles)/n, "files-camwire")
	b.ReportMetric(float64(oldFiles)/n, "files-restart")
	b.ReportMetric(float64(dead.Milliseconds())/float64(max(oldFiles-b.N, 1)), "ms-dead-per-restart")
}
