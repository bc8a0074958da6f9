//go:build unix

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camwire/camwire/internal/benchclip"
	"github.com/camwire/camwire/internal/testkit"
	"github.com/camwire/camwire/segment"
)

// Benchmarks of camwire-recv on real H.264 (libx264 clips from
// internal/benchclip), each against a baseline measured in the same round:
//
//	BenchmarkRecvVsNC  the real camwire-init sending a clip into camwire-recv
//	                   (-format h264 and mp4) vs cat | nc into nc -l > file
//	BenchmarkCameras   128 and 256 paced cameras into one camwire-recv (mp4)

// initSummaryRE is camwire-init's last line.
var initSummaryRE = regexp.MustCompile(`(?m)^captured=(\d+) sent=(\d+) acked=(\d+) dropped=(\d+)$`)

// sendFile runs the real camwire-init with `cat path` as its camera into
// addr, waits until the command has ended (the splitter has then flushed
// the last access unit), stops it with SIGTERM so it drains, and checks
// that every captured frame was acknowledged. It returns the wall time
// from start to exit.
func sendFile(b *testing.B, addr, path string) time.Duration {
	b.Helper()
	// The camera command runs once: a restart (Exec restarts a command
	// that ended) finds the marker and idles instead of sending again.
	marker := filepath.Join(b.TempDir(), "ran")
	script := fmt.Sprintf("test -e %s && exec sleep 3600; touch %s; exec cat %s", marker, marker, path)
	cmd := exec.Command(testkit.Build(b, testkit.Module+"/cmd/camwire-init"),
		"-source", "exec", "-exec", "sh -c '"+script+"'", "-receiver", addr, "-segment", "3s")
	start := time.Now()
	p := testkit.StartCmd(b, "camwire-init", cmd)
	p.WaitFor(b, "the camera command's exit", 5*time.Minute, func(log string) bool {
		return strings.Contains(log, "camera command exited")
	})
	p.Stop(b, syscall.SIGTERM)
	wall := time.Since(start)
	m := initSummaryRE.FindStringSubmatch(p.Logs())
	if m == nil {
		b.Fatalf("camwire-init printed no summary:\n%s", p.Logs())
	}
	if m[1] != m[3] || m[4] != "0" {
		b.Fatalf("camwire-init lost frames: %s", m[0])
	}
	return wall
}

// runRecvReal measures camwire-recv in format recording the clip at
// path (size bytes) from the real sender. Its CPU is read when it logs
// that it listens (start-up: exec to listening; it then waits in accept
// until the sender connects) and once the sender has gone and the
// session has ended ("camera disconnected": last sync, file closed),
// before SIGTERM: the difference is its steady state, connection setup
// and teardown included. cpu is the whole process's, from wait4.
func runRecvReal(b *testing.B, dir, format, path string, size int64) result {
	out := filepath.Join(dir, "rec")
	p := startRecv(b, "-dir", out, "-format", format)
	startup := testkit.CPUOf(b, p.Cmd.Process.Pid)
	wall := sendFile(b, p.Addr, path)
	p.WaitCount(b, "camera disconnected", 1, time.Minute)
	end := testkit.CPUOf(b, p.Cmd.Process.Pid)
	p.Stop(b, syscall.SIGTERM)
	var files []string
	var stored int64
	filepath.WalkDir(out, func(f string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(f, "."+format) {
			files = append(files, f)
			fi, _ := d.Info()
			stored += fi.Size()
		}
		return nil
	})
	if len(files) == 0 {
		b.Fatalf("camwire-recv -format %s stored no file", format)
	}
	if format == "h264" && stored != size {
		b.Fatalf("camwire-recv -format h264 stored %d bytes, want the clip's %d", stored, size)
	}
	os.RemoveAll(out)
	return result{wall: wall, cpu: cpu(p.Cmd.ProcessState), startup: startup, steady: end - startup}
}

// runNCFile measures `nc -l > file` receiving path from `cat path | nc`,
// the same way as runRecvReal: CPU read when nc says it listens and when
// the file holds every byte. The sending nc runs without -N, so the
// connection stays open and nc -l alive (it exits at EOF) until that
// second reading; then the sender is stopped. cpu is wait4's.
func runNCFile(b *testing.B, dir, path string, size int64) result {
	outPath := filepath.Join(dir, "nc.out")
	lis, port, out, done := testkit.ListenNCFile(b, outPath)
	defer done()
	startup := testkit.CPUOf(b, lis.Process.Pid)
	start := time.Now()
	cat, snd := catInto(b, path, "127.0.0.1", port)
	testkit.WaitSize(b, outPath, size, 5*time.Minute)
	wall := time.Since(start)
	end := testkit.CPUOf(b, lis.Process.Pid)
	snd.Process.Signal(syscall.SIGTERM)
	if err := cat.Wait(); err != nil {
		b.Fatalf("cat: %v", err)
	}
	snd.Wait() // ended by SIGTERM
	if err := lis.Wait(); err != nil {
		b.Fatalf("nc -l: %v", err)
	}
	if fi, _ := out.Stat(); fi.Size() != size {
		b.Fatalf("nc stored %d bytes, want %d", fi.Size(), size)
	}
	return result{wall: wall, cpu: cpu(lis.ProcessState), startup: startup, steady: end - startup}
}

// catInto starts `cat path | nc host port` (no -N: nc keeps the
// connection open after cat's EOF until it is stopped) and returns both.
func catInto(b *testing.B, path, host, port string) (cat, nc *exec.Cmd) {
	b.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	cat = exec.Command("cat", path)
	cat.Stdout = w
	nc = exec.Command("nc", host, port)
	nc.Stdin = r
	if err := cat.Start(); err != nil {
		b.Fatal(err)
	}
	if err := nc.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if nc.ProcessState == nil {
			nc.Process.Kill()
			nc.Wait()
		}
	})
	return cat, nc
}

// BenchmarkRecvVsNC: CPU per MB of camwire-recv recording real H.264 from
// the real camwire-init, in -format h264 and mp4, against nc -l > file
// receiving the same file from cat | nc, taking turns. Goals: h264 ≤ 1.0×
// nc's CPU/MB at ≥ 1.2× its throughput, mp4 ≤ 1.5×. The goal's figure is
// the steady state (a recorder runs for hours): CPU from listening to the
// end of the stream, before exit, read the same way for both. The whole
// process (exec to exit, wait4) is ms-cpu/MB-whole, and the start-up
// (exec to listening) ms-startup, both beside nc's. Throughput is the
// whole pipe's (file read to stored on the receiver side), so for
// camwire it is bounded by the sender too.
func BenchmarkRecvVsNC(b *testing.B) {
	for _, format := range []string{"h264", "mp4"} {
		for _, k := range benchclip.Kinds {
			b.Run(format+"/"+k.Name, func(b *testing.B) {
				dir := benchDir(b)
				path, size := benchclip.Repeated(b, k, 3, dir)
				mb := float64(size) / 1e6
				perMB := func(d time.Duration) float64 { return d.Seconds() * 1e3 / mb }
				ms := func(d time.Duration) float64 { return d.Seconds() * 1e3 }
				for range b.N {
					cam := runRecvReal(b, dir, format, path, size)
					nc := runNCFile(b, dir, path, size)
					b.ReportMetric(perMB(cam.steady), "ms-cpu/MB")
					b.ReportMetric(perMB(nc.steady), "ms-cpu/MB-nc")
					b.ReportMetric(perMB(cam.cpu), "ms-cpu/MB-whole")
					b.ReportMetric(perMB(nc.cpu), "ms-cpu/MB-nc-whole")
					b.ReportMetric(ms(cam.startup), "ms-startup")
					b.ReportMetric(ms(nc.startup), "ms-startup-nc")
					b.ReportMetric(mb/cam.wall.Seconds(), "MB/s")
					b.ReportMetric(mb/nc.wall.Seconds(), "MB/s-nc")
				}
			})
		}
	}
}

// realAUs splits the clip of kind k into access units.
func realAUs(b *testing.B, k benchclip.Kind) []segment.AU {
	data, err := os.ReadFile(benchclip.Path(b, k))
	if err != nil {
		b.Fatal(err)
	}
	var sp segment.Splitter
	aus, err := sp.Write(data, 0)
	if err != nil {
		b.Fatal(err)
	}
	return append(aus, sp.Flush()...)
}
