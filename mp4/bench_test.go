package mp4

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/camwire/camwire/mp4/mp4test"
	"github.com/camwire/camwire/sink"
	"github.com/camwire/camwire/wire"
)

// BenchmarkSink writes a minute of 1080p-sized libx264 frames (30 fps,
// synced every 15 frames as the receiver does) as MP4 and, as the
// baseline in the same run, as plain Annex-B appends with the same
// fsyncs. It reports MP4 throughput as a fraction of the baseline's.
func BenchmarkSink(b *testing.B) {
	aus := mp4test.SplitAUs(b, mp4test.EncodeClip(b, "1920x1080", 2, "-bf", "0", "-g", "30", "-preset", "ultrafast", "-b:v", "16M"))
	const frames = 60 * 30
	total := 0
	for i := range frames {
		total += len(aus[i%len(aus)])
	}
	dir := b.TempDir()

	raw := func() time.Duration {
		p := filepath.Join(dir, "raw.h264")
		os.Remove(p)
		start := time.Now()
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		for i := range frames {
			if _, err := f.Write(aus[i%len(aus)]); err != nil {
				b.Fatal(err)
			}
			if (i+1)%15 == 0 {
				f.Sync()
			}
		}
		f.Close()
		return time.Since(start)
	}
	mp4 := func() time.Duration {
		p := filepath.Join(dir, "seg.mp4")
		os.Remove(p)
		start := time.Now()
		w, err := (&Sink{}).Create(p, sink.SegmentInfo{Hello: hello(30, 1)})
		if err != nil {
			b.Fatal(err)
		}
		for i := range frames {
			au := aus[i%len(aus)]
			if err := w.WriteFrame(wire.Frame{Seq: uint64(i + 1), TimeUS: int64(i) * 1e6 / 30, Key: isKey(au), Payload: au}); err != nil {
				b.Fatal(err)
			}
			if (i+1)%15 == 0 {
				if _, _, err := w.Sync(); err != nil {
					b.Fatal(err)
				}
			}
		}
		if err := w.Finish(); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	var tRaw, tMP4 time.Duration
	for b.Loop() {
		tRaw += raw()
		tMP4 += mp4()
	}
	b.ReportMetric(tRaw.Seconds()/tMP4.Seconds(), "x-annexb-throughput")
	b.ReportMetric(float64(total)*float64(b.N)/tMP4.Seconds()/1e6, "MB/s")
}
