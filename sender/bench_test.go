//go:build unix

package sender

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/camwire/camwire/wire"
)

// The benchmark's receiver runs in a child process (this test binary
// again), so getrusage(RUSAGE_SELF) in the parent measures the sender
// alone.
const helperEnv = "CAMWIRE_SENDER_BENCH_RECV"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		if err := benchReceiver(mode); err != nil {
			fmt.Fprintln(os.Stderr, "bench receiver:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// benchReceiver accepts one connection, prints its address first, and
// either discards raw bytes ("raw", the nc baseline) or speaks the
// protocol with an ack every 5 ms ("framed").
func benchReceiver(mode string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr())
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	if mode == "raw" {
		_, err := io.Copy(io.Discard, c)
		return err
	}
	rd := wire.NewReader(c, wire.Limits{})
	if _, err := rd.ReadPreamble(); err != nil {
		return err
	}
	if _, err := rd.Next(); err != nil {
		return err
	}
	if err := wire.Write(c, wire.Challenge{}); err != nil {
		return err
	}
	if _, err := rd.Next(); err != nil {
		return err
	}
	if err := wire.Write(c, wire.Welcome{}); err != nil {
		return err
	}
	// Acks every 5 ms, like the real receiver's fsync timer but faster,
	// so the sender's window never limits loopback throughput.
	var last atomic.Uint64
	go func() {
		var sent uint64
		for range time.Tick(5 * time.Millisecond) {
			if seq := last.Load(); seq > sent {
				if wire.Write(c, wire.Ack{Seq: seq}) != nil {
					return
				}
				sent = seq
			}
		}
	}()
	for {
		r, err := rd.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch v := r.(type) {
		case wire.Frame:
			last.Store(v.Seq)
		case wire.SegmentEnd:
			last.Store(v.Seq)
		case wire.Gap:
			last.Store(v.Seq)
		}
	}
}

func startBenchReceiver(b *testing.B, mode string) string {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("bench receiver: %v", err)
	}
	return addr[:len(addr)-1]
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchBytes is sent per iteration: large enough to dwarf connection
// setup, small enough for `make bench` on two shared cores.
const (
	benchBytes = 512 << 20
	benchAU    = 64 << 10 // one access unit at 16 Mbit/s, 30 fps, about
)

// BenchmarkSend streams benchBytes of access units over loopback to a
// trivial acking receiver in another process and reports the sender's CPU
// per byte against a raw TCP write of the same bytes (what `nc` does),
// plus the buffer's overhead per frame.
func BenchmarkSend(b *testing.B) {
	au := make([]byte, benchAU)
	frames := benchBytes / benchAU

	var rawCPU, rawWall time.Duration
	var sendCPU, sendWall time.Duration
	var mallocs uint64
	for range b.N {
		// Baseline: raw writes of the same size, like `cat | nc`.
		addr := startBenchReceiver(b, "raw")
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		cpu0, t0 := cpuTime(), time.Now()
		for range frames {
			if _, err := c.Write(au); err != nil {
				b.Fatal(err)
			}
		}
		c.Close()
		rawCPU += cpuTime() - cpu0
		rawWall += time.Since(t0)

		addr = startBenchReceiver(b, "framed")
		s, err := New(Config{Addr: addr, Hello: testHello(), Logger: discardLogger()})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		var ms0, ms1 runtime.MemStats
		runtime.ReadMemStats(&ms0)
		cpu0, t0 = cpuTime(), time.Now()
		// Produce in chunks of a quarter buffer and keep at most two in
		// flight, so the benchmark measures sending, never dropping.
		const chunk = DefaultBufferBytes / 4 / benchAU
		for i := 0; i < frames; i += chunk {
			for j := i; j < min(i+chunk, frames); j++ {
				s.Frame(0, int64(j), j%30 == 0, au)
			}
			if i >= chunk {
				waitAcked(b, s, uint64(i))
			}
		}
		waitAcked(b, s, uint64(frames))
		sendCPU += cpuTime() - cpu0
		sendWall += time.Since(t0)
		runtime.ReadMemStats(&ms1)
		mallocs += ms1.Mallocs - ms0.Mallocs
		if d := s.Counters().Dropped; d != 0 {
			b.Fatalf("dropped %d frames; the benchmark must not overflow", d)
		}
		cancel()
		<-done
	}
	total := float64(b.N) * float64(frames*benchAU)
	b.ReportMetric(float64(sendCPU.Nanoseconds())/total, "cpu-ns/B")
	b.ReportMetric(float64(rawCPU.Nanoseconds())/total, "raw-cpu-ns/B")
	b.ReportMetric(float64(sendCPU)/float64(rawCPU), "x-raw-cpu")
	b.ReportMetric(total/sendWall.Seconds()/1e6, "MB/s")
	b.ReportMetric(float64(rawWall)/float64(sendWall), "x-raw-throughput")
	b.ReportMetric(float64(mallocs)/float64(b.N*frames), "allocs/frame")
	b.ReportMetric(float64(recOverhead), "B-overhead/frame")
}

// waitAcked waits until the receiver acknowledged every record up to seq.
func waitAcked(b *testing.B, s *Sender, seq uint64) {
	deadline := time.After(time.Minute)
	for {
		s.mu.Lock()
		ok, ch := s.acked >= seq, s.ackCh
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			b.Fatalf("no ack for seq %d within a minute: %v", seq, s.Counters())
		}
	}
}
