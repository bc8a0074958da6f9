//go:build unix

package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	amp4 "github.com/abema/go-mp4"

	"github.com/camwire/camwire/internal/benchclip"
	"github.com/camwire/camwire/internal/ffprobe"
	"github.com/camwire/camwire/internal/testkit"
	"github.com/camwire/camwire/recv/recvtest"
	"github.com/camwire/camwire/segment"
	"github.com/camwire/camwire/wire"
)

// BenchmarkCameras runs 128 and 256 cameras, each sending the real
// 16 Mbit/s clip paced at 30 fps in 2 s segments, into one camwire-recv
// recording MP4, and reports the receiver's CPU seconds per second of
// video (the share of one core it needs to keep up), its peak RSS, frames
// lost (sent minus the frames ffprobe decodes from the files, see
// checkFiles) and how far behind real time the whole run finished
// (x-realtime > 1: the cameras, or the receiver's acknowledgements,
// could not keep 30 fps). Goal at 128: < 0.5 core, < 256 MiB, 0 lost.
//
// In the same round the same paced records go to the floor a receiver
// cannot beat (copyReceiver: one process, io.Copy of each socket into a
// file, no parsing, no acknowledgements), reported as -copy metrics.
func BenchmarkCameras(b *testing.B) {
	for _, n := range []int{128, 256} {
		b.Run(strconv.Itoa(n), func(b *testing.B) { benchCameras(b, n) })
	}
}

const (
	// Long enough for the heap to reach its GC target (a 4 s run ended
	// before the first steady-state collection and showed a peak RSS the
	// receiver would outgrow) and for connecting to be a small part of
	// the CPU.
	camSeconds   = 10
	camSegFrames = 2 * benchclip.FPS
)

func benchCameras(b *testing.B, cams int) {
	aus := realAUs(b, benchclip.BFrames)
	dir := benchDir(b)
	for range b.N {
		base := runCopyCameras(b, dir, cams, aus)
		p := startRecv(b, "-dir", dir, "-max-conns", strconv.Itoa(cams+10))
		wall, err := runCameras(cams, func(name string) error {
			return paceCamera(p.Addr, name, aus, camSeconds*benchclip.FPS, camSegFrames)
		})
		p.Stop(b, syscall.SIGTERM)
		if err != nil {
			b.Fatal(err)
		}
		decoded, bad := checkFiles(dir)
		if len(bad) > 0 {
			b.Errorf("%d files do not decode: %v", len(bad), bad)
		}
		// CPU per second of video, not per second of wall clock: when the
		// run falls behind real time (x-realtime > 1) the receiver did the
		// same work in a longer time, and dividing by that would flatter it.
		b.ReportMetric(cpu(p.Cmd.ProcessState).Seconds()/camSeconds, "cpu-cores")
		b.ReportMetric(base.cpu.Seconds()/camSeconds, "cpu-cores-copy")
		b.ReportMetric(maxRSS(p.Cmd.ProcessState), "maxrss-MiB")
		b.ReportMetric(base.rss, "maxrss-MiB-copy")
		b.ReportMetric(float64(cams*camSeconds*benchclip.FPS-decoded), "frames-lost")
		b.ReportMetric(wall.Seconds()/camSeconds, "x-realtime")
		b.ReportMetric(base.wall.Seconds()/camSeconds, "x-realtime-copy")
		os.RemoveAll(dir)
		os.MkdirAll(dir, 0o755)
	}
}

// maxRSS is an exited child's peak resident set in MiB.
func maxRSS(ps *os.ProcessState) float64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return float64(ru.Maxrss) / 1024 // KiB on Linux
	}
	return 0
}

// runCameras runs camera(name) for cams cameras at once and returns the
// wall time until the last one ended, and the first error.
func runCameras(cams int, camera func(name string) error) (time.Duration, error) {
	var wg sync.WaitGroup
	errs := make(chan error, cams)
	start := time.Now()
	for c := range cams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- camera(fmt.Sprintf("cam%03d", c))
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	close(errs)
	for err := range errs {
		if err != nil {
			return wall, err
		}
	}
	return wall, nil
}

// paceCamera sends frames frames of aus (looped) at 30 fps as camera
// name, ending a segment every segment frames, and closes once the
// receiver acknowledged the last.
func paceCamera(addr, name string, aus []segment.AU, frames, segFrames int) error {
	hello := wire.Hello{Name: name, Codec: "h264", Width: 1920, Height: 1080, FPSNum: benchclip.FPS, FPSDen: 1}
	copy(hello.StreamID[:], name)
	cam, err := recvtest.Dial(addr, hello, 30*time.Second)
	if err != nil {
		return err
	}
	defer cam.Close()
	acked := make(chan uint64, 1)
	go func() {
		for {
			r, err := cam.Next(time.Minute)
			if err != nil {
				close(acked)
				return
			}
			if a, ok := r.(wire.Ack); ok {
				select {
				case <-acked:
				default:
				}
				acked <- a.Seq
			}
		}
	}()
	// Each frame with its NAL table, as a camwire camera sends it to a
	// receiver that reads them (see wire.NALTable).
	seq, _, err := paceRecords(cam.Conn, aus, frames, segFrames, cam.Challenge.Minor >= wire.MinorNALTable)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	for a := range acked {
		if a >= seq {
			return nil
		}
	}
	return fmt.Errorf("%s: connection ended before the last acknowledgement", name)
}

// paceRecords writes frames frames of aus (looped) to c at 30 fps, a
// segment-end after every segFrames, each segment starting at the clip's
// keyframe, and each frame with its NAL table if tables. It returns the
// last seq and the bytes written.
func paceRecords(c net.Conn, aus []segment.AU, frames, segFrames int, tables bool) (uint64, int64, error) {
	nals := make([]wire.NALTable, len(aus))
	if tables {
		for i, au := range aus {
			nals[i] = wire.AppendNALTable(nil, au.NALs)
		}
	}
	tick := time.NewTicker(time.Second / benchclip.FPS)
	defer tick.Stop()
	var seq uint64
	var hdr []byte
	var n int64
	for i := range frames {
		j := i % segFrames % len(aus)
		au := aus[j]
		seq++
		f := wire.Frame{Seq: seq, TimeUS: int64(i) * 1e6 / benchclip.FPS, Key: au.Key, Payload: au.Data, NALs: nals[j]}
		hdr = wire.AppendFrameHeader(hdr[:0], f)
		bufs := net.Buffers{hdr, f.Payload}
		k, err := bufs.WriteTo(c)
		n += k
		if err != nil {
			return seq, n, fmt.Errorf("frame %d: %w", i, err)
		}
		if (i+1)%segFrames == 0 {
			seq++
			rec := wire.Append(nil, wire.SegmentEnd{Seq: seq, Frames: uint32(segFrames)})
			k, err := c.Write(rec)
			n += int64(k)
			if err != nil {
				return seq, n, err
			}
		}
		<-tick.C
	}
	return seq, n, nil
}

// checkFiles has ffprobe decode every recording under dir in full
// (-count_frames), a worker a CPU, and returns the frames it decoded and
// the files that failed: ffprobe could not read them, printed a decoder
// error, or decoded another count than the file's trun boxes hold.
func checkFiles(dir string) (int, []string) {
	var files []string
	filepath.WalkDir(dir, func(f string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(f, ".mp4") {
			files = append(files, f)
		}
		return nil
	})
	var (
		mu    sync.Mutex
		total int
		bad   []string
		wg    sync.WaitGroup
	)
	work := make(chan string)
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range work {
				n, err := checkFile(f)
				mu.Lock()
				total += n
				if err != nil {
					bad = append(bad, fmt.Sprintf("%s: %v", f, err))
				}
				mu.Unlock()
			}
		}()
	}
	for _, f := range files {
		work <- f
	}
	close(work)
	wg.Wait()
	return total, bad
}

// checkFile returns the frames ffprobe decoded from f, 0 if it failed.
func checkFile(f string) (int, error) {
	in, err := ffprobe.Probe(f)
	if err != nil {
		return 0, err
	}
	if in.Stderr != "" {
		return 0, fmt.Errorf("ffprobe: %s", strings.TrimSpace(in.Stderr))
	}
	n, err := countSamples(f)
	if err != nil {
		return 0, err
	}
	if in.Frames != n {
		return 0, fmt.Errorf("ffprobe decoded %d frames, the trun boxes hold %d", in.Frames, n)
	}
	return in.Frames, nil
}

// countSamples adds up the sample counts of the trun boxes in path.
func countSamples(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	_, err = amp4.ReadBoxStructure(f, func(h *amp4.ReadHandle) (any, error) {
		switch h.BoxInfo.Type {
		case amp4.BoxTypeMoof(), amp4.BoxTypeTraf():
			return h.Expand()
		case amp4.BoxTypeTrun():
			box, _, err := h.ReadPayload()
			if err != nil {
				return nil, err
			}
			n += int(box.(*amp4.Trun).SampleCount)
		}
		return nil, nil
	})
	return n, err
}

// copyResult is the copy receiver's run.
type copyResult struct {
	wall time.Duration
	cpu  time.Duration
	rss  float64 // MiB
}

// runCopyCameras sends cams cameras' paced records (the very records
// paceCamera sends, without the handshake) to the copy receiver and
// checks that it stored every byte.
func runCopyCameras(b *testing.B, dir string, cams int, aus []segment.AU) copyResult {
	out := filepath.Join(dir, "copy")
	if err := os.MkdirAll(out, 0o755); err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(out)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), copyDirEnv+"="+out, copyConnsEnv+"="+strconv.Itoa(cams))
	p := testkit.StartCmd(b, "copy receiver", cmd)
	addr := strings.TrimPrefix(p.WaitLine(b, "listening on ", time.Minute), "listening on ")
	var sent sync.Map
	wall, err := runCameras(cams, func(name string) error {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		_, n, err := paceRecords(c, aus, camSeconds*30, camSegFrames, true) // the same bytes as to camwire-recv
		sent.Store(name, n)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	select {
	case <-p.Exited():
	case <-time.After(time.Minute):
		b.Fatalf("copy receiver did not exit a minute after the last camera closed")
	}
	if !p.Cmd.ProcessState.Success() {
		b.Fatalf("copy receiver: %v", p.Cmd.ProcessState)
	}
	var want, got int64
	sent.Range(func(_, n any) bool { want += n.(int64); return true })
	files, _ := filepath.Glob(filepath.Join(out, "*.wire"))
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			got += fi.Size()
		}
	}
	if got != want || len(files) != cams {
		b.Fatalf("copy receiver stored %d bytes in %d files, want %d in %d", got, len(files), want, cams)
	}
	return copyResult{wall: wall, cpu: cpu(p.Cmd.ProcessState), rss: maxRSS(p.Cmd.ProcessState)}
}
