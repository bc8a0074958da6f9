//go:build unix

package main

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camwire/camwire/internal/testkit"
	"github.com/camwire/camwire/recv/recvtest"
	"github.com/camwire/camwire/wire"
)

// cpu is the user+system time of an exited child.
func cpu(ps *os.ProcessState) time.Duration { return ps.UserTime() + ps.SystemTime() }

const benchBytes = 1 << 30

// sendRaw writes n bytes of a repeating 1 MiB pattern to addr and closes.
func sendRaw(b *testing.B, addr string, n int) {
	b.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	buf[3] = 1 // starts like Annex-B: 00 00 00 01
	for sent := 0; sent < n; sent += len(buf) {
		if _, err := c.Write(buf[:min(len(buf), n-sent)]); err != nil {
			b.Fatal(err)
		}
	}
	c.Close()
}

// result is one run: wall time, the whole process's CPU (wait4) and,
// where the run reads it, the CPU split into start-up and steady state.
type result struct {
	wall            time.Duration
	cpu             time.Duration
	startup, steady time.Duration
}

func (r result) mbps() float64 { return benchBytes / r.wall.Seconds() / 1e6 }

// runNC measures `nc -l PORT > file` receiving benchBytes.
func runNC(b *testing.B, dir string) result {
	return runNCWith(b, dir, benchBytes, func(addr string) { sendRaw(b, addr, benchBytes) })
}

// runNCWith measures `nc -l PORT > file` receiving what send sends to its
// address, until nc exits; it checks nc stored want bytes.
func runNCWith(b *testing.B, dir string, want int64, send func(addr string)) result {
	out, _ := os.Create(filepath.Join(dir, "nc.out"))
	defer os.Remove(out.Name())
	defer out.Close()
	cmd, port := testkit.ListenNC(b, out)
	start := time.Now()
	send("127.0.0.1:" + port)
	if err := cmd.Wait(); err != nil {
		b.Fatalf("nc: %v", err)
	}
	r := result{wall: time.Since(start), cpu: cpu(cmd.ProcessState)}
	if fi, _ := out.Stat(); fi.Size() != want {
		b.Fatalf("nc stored %d bytes, want %d", fi.Size(), want)
	}
	return r
}

// runRecvRaw measures camwire-recv receiving benchBytes as a raw stream,
// until the file is fsynced and renamed.
func runRecvRaw(b *testing.B, dir string) result {
	p := startRecv(b, "-dir", dir)
	start := time.Now()
	sendRaw(b, p.Addr, benchBytes)
	p.WaitFor(b, `"raw stream complete"`, 5*time.Minute, func(log string) bool { return strings.Contains(log, "raw stream complete") })
	return stopAndCheck(b, p, time.Since(start), filepath.Join(dir, "raw-127.0.0.1"))
}

// bigStream is benchBytes of 64 KiB frames in one segment; the frames
// share one payload so the script costs no memory.
func bigStream(name string, frames int, payload []byte) *recvtest.Stream {
	st := &recvtest.Stream{Hello: wire.Hello{Name: name, Codec: "h264", FPSNum: 30, FPSDen: 1}}
	copy(st.Hello.StreamID[:], name)
	for i := 1; i <= frames; i++ {
		st.Records = append(st.Records, wire.Frame{Seq: uint64(i), Key: i == 1, Payload: payload})
	}
	st.Records = append(st.Records, wire.SegmentEnd{Seq: uint64(frames + 1), Frames: uint32(frames)})
	return st
}

// runRecvFramed measures camwire-recv receiving benchBytes framed, until
// the segment-end is acknowledged (file fsynced, renamed, journaled).
func runRecvFramed(b *testing.B, dir string) result {
	payload := make([]byte, 64<<10)
	payload[3] = 1
	st := bigStream("bench", benchBytes/len(payload), payload)
	p := startRecv(b, "-dir", dir, "-format", "h264") // the baseline stores bytes as they come
	start := time.Now()
	if _, err := st.Run(dial(b, p.Addr), 5*time.Minute); err != nil {
		b.Fatal(err)
	}
	return stopAndCheck(b, p, time.Since(start), filepath.Join(dir, "bench"))
}

// stopAndCheck stops camwire-recv, checks that folder holds one finished
// .h264 of benchBytes, removes it for the next round and returns the
// run's wall time and the receiver's CPU time.
func stopAndCheck(b *testing.B, p *testkit.RecvProc, wall time.Duration, folder string) result {
	p.Stop(b, syscall.SIGTERM)
	files, _ := filepath.Glob(filepath.Join(folder, "*.h264"))
	if len(files) != 1 {
		b.Fatalf("files in %s = %v, want 1", folder, files)
	}
	if fi, _ := os.Stat(files[0]); fi.Size() != benchBytes {
		b.Fatalf("camwire-recv stored %d bytes, want %d", fi.Size(), benchBytes)
	}
	os.RemoveAll(folder)
	return result{wall: wall, cpu: cpu(p.Cmd.ProcessState)}
}

// BenchmarkVsNC (synthetic: isolates the receiver's copy path from any
// video parsing) sends the same 1 GiB of zeros over loopback to `nc -l`, to
// camwire-recv as a raw stream and to camwire-recv framed, and reports
// each one's throughput and CPU time and the ratios to nc. Goal:
// throughput ≥ 1.0× nc at ≤ 1.2× its CPU. One round varies by tens of
// percent on a shared machine, so each figure is the median of three
// rounds that take turns.
func BenchmarkVsNC(b *testing.B) {
	dir := benchDir(b)
	const rounds = 3
	for i := 0; i < b.N; i++ {
		var nc, raw, framed []result
		for range rounds {
			nc = append(nc, runNC(b, dir))
			raw = append(raw, runRecvRaw(b, dir))
			framed = append(framed, runRecvFramed(b, dir))
		}
		mbps := func(rs []result) float64 { return median(rs, result.mbps) }
		cpus := func(rs []result) float64 { return median(rs, func(r result) float64 { return r.cpu.Seconds() }) }
		b.ReportMetric(mbps(nc), "nc-MB/s")
		b.ReportMetric(cpus(nc), "nc-cpu-s")
		b.ReportMetric(mbps(raw), "raw-MB/s")
		b.ReportMetric(cpus(raw), "raw-cpu-s")
		b.ReportMetric(mbps(framed), "framed-MB/s")
		b.ReportMetric(cpus(framed), "framed-cpu-s")
		b.ReportMetric(mbps(raw)/mbps(nc), "x-nc-throughput")
		b.ReportMetric(cpus(raw)/cpus(nc), "x-nc-cpu")
		b.ReportMetric(mbps(framed)/mbps(nc), "framed-x-nc-throughput")
		b.ReportMetric(cpus(framed)/cpus(nc), "framed-x-nc-cpu")
	}
}

// median is the middle value of f over rs.
func median(rs []result, f func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	return v[len(v)/2]
}
