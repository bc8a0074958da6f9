//go:build unix

package mp4

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/camwire/camwire/internal/benchclip"
	"github.com/camwire/camwire/segment"
	"github.com/camwire/camwire/sink"
	"github.com/camwire/camwire/wire"
)

// cpuNow is this process's user+system time: the sink runs on the
// benchmark's goroutine, and the GC's work for it counts too.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSink writes a minute of the real 1080p30 16 Mbit/s libx264
// clips (B-frames with repeated headers; 8 slices with headers once) as
// one MP4 segment and, as the baseline in the same round, through the
// Annex-B sink, all synced every 15 frames and given stable payloads as
// the receiver does, into tmpfs when there is one. The MP4 sink runs
// twice: with each frame's NAL table, as a camwire camera sends it to a
// 1.3 receiver (MB/cpu-s: the goal's path, no search for start codes),
// and without, as frames of older senders and raw nc streams come
// (MB/cpu-s-scan). It reports MB per CPU second of each (throughput on a
// machine whose wall clock other work shares). Goal: MP4 with tables ≥
// 0.8× Annex-B. This isolates the sink: no network, no receiver.
// The sinks take turns, sinkRounds passes each an iteration.
func BenchmarkSink(b *testing.B) {
	for _, k := range benchclip.Kinds {
		b.Run(k.Name, func(b *testing.B) { benchSink(b, k) })
	}
}

func benchSink(b *testing.B, k benchclip.Kind) {
	data, err := os.ReadFile(benchclip.Path(b, k))
	if err != nil {
		b.Fatal(err)
	}
	var sp segment.Splitter
	aus, err := sp.Write(data, 0)
	if err != nil {
		b.Fatal(err)
	}
	aus = append(aus, sp.Flush()...)
	// Each frame's NAL table as the wire carries it.
	tables := make([]wire.NALTable, len(aus))
	for i, au := range aus {
		tables[i] = wire.AppendNALTable(nil, au.NALs)
	}
	const frames = 60 * benchclip.FPS
	total := 0
	for i := range frames {
		total += len(aus[i%len(aus)].Data)
	}
	dir := b.TempDir()
	if d, err := os.MkdirTemp("/dev/shm", "camwire-sink"); err == nil {
		dir = d
		b.Cleanup(func() { os.RemoveAll(d) })
	}
	write := func(s sink.Sink, name string, withTables bool) time.Duration {
		p := filepath.Join(dir, name)
		os.Remove(p)
		start := cpuNow()
		// Stable, as the receiver's payloads are (see sink.SegmentInfo).
		w, err := s.Create(p, sink.SegmentInfo{Hello: hello(benchclip.FPS, 1), Stable: true})
		if err != nil {
			b.Fatal(err)
		}
		for i := range frames {
			au := aus[i%len(aus)]
			f := wire.Frame{Seq: uint64(i + 1), TimeUS: int64(i) * 1e6 / benchclip.FPS, Key: au.Key, Payload: au.Data}
			if withTables {
				f.NALs = tables[i%len(aus)]
			}
			if err := w.WriteFrame(f); err != nil {
				b.Fatal(err)
			}
			if (i+1)%15 == 0 {
				if _, _, err := w.Sync(); err != nil {
					b.Fatal(err)
				}
			}
		}
		if bt, ok := w.(interface{ BadTables() int }); ok && bt.BadTables() != 0 {
			b.Fatalf("%d NAL tables did not match", bt.BadTables())
		}
		if err := w.Finish(); err != nil {
			b.Fatal(err)
		}
		return cpuNow() - start
	}
	passes := []func() time.Duration{
		func() time.Duration { return write(sink.AnnexB{}, "seg.h264", false) },
		func() time.Duration { return write(&Sink{}, "seg.mp4", true) },
		func() time.Duration { return write(&Sink{}, "seg-scan.mp4", false) },
	}
	for b.Loop() {
		// One pass of a sink is ~60 ms of CPU, and on a shared machine
		// one pass can cost twice another of the same sink. So each
		// sink writes the minute sinkRounds times, the three in turn
		// and each round in another order, and its figure is the whole
		// of its bytes over the whole of its CPU.
		var cpu [3]time.Duration
		for r := range sinkRounds {
			for i := range passes {
				k := (i + r) % len(passes)
				cpu[k] += passes[k]()
			}
		}
		mb := float64(total) * sinkRounds / 1e6
		b.ReportMetric(mb/cpu[0].Seconds(), "MB/cpu-s-annexb")
		b.ReportMetric(mb/cpu[1].Seconds(), "MB/cpu-s")
		b.ReportMetric(mb/cpu[2].Seconds(), "MB/cpu-s-scan")
	}
}

// sinkRounds is how many times each sink writes the minute of video in
// one iteration of BenchmarkSink.
const sinkRounds = 6
