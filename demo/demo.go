// Package demo runs the whole camwire system on this machine, the way
// `make demo` shows it: a camwire-recv process on the loopback, and the
// demo SD image booted on QEMU's virt machine as the camera (the image as
// its disk, so camwire-init reads camwire.txt from the boot partition as
// on a Pi; QEMU's user network puts the host at 10.0.2.2). It records for
// a while, shuts the camera down with Ctrl-Alt-Del (the clean path: the
// recorder drains to the receiver and prints its summary), stops the
// receiver and reports what landed, checked with ffprobe.
//
// BuildAndRun starts the receiver first (camwire's usual port, else one
// the kernel picks, read from the receiver's log), builds the demo image
// for that port with package image, and runs it as Run does; Run itself
// only needs the emulator driver and ffprobe. package image
// never imports this one: building an image needs no QEMU.
package demo

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/camwire/camwire/camconsole"
	"github.com/camwire/camwire/internal/ffprobe"
	"github.com/camwire/camwire/internal/qemu"
)

// Config is one demo run.
type Config struct {
	// Kernel, Initrd and Disk are the demo image's kernel, initramfs and
	// the image itself (the camera's disk, holding camwire.txt).
	Kernel, Initrd, Disk string
	// Recv is the camwire-recv binary, Listen its address (the image's
	// receiver setting is 10.0.2.2 with the same port; BuildAndRun
	// starts the receiver first and builds the image for the port it
	// got).
	Recv, Listen string
	// Dir is where the recordings land (camwire-recv -dir).
	Dir string
	// Record is how long to record once the first frame is acknowledged;
	// zero means 20 s.
	Record time.Duration
	// Out gets the progress (the camera's console, the receiver's log)
	// and the report.
	Out io.Writer
	// Stdin, if set, is typed into the camera's serial console: with a
	// debug image, camwire-init's shell answers there.
	Stdin io.Reader
}

// Report is what a demo run recorded.
type Report struct {
	Summary  camconsole.Summary // the camera's last line: captured=N sent=N acked=N dropped=N
	Files    []File             // new recordings, in name order
	FirstAck time.Duration      // QEMU start → first frame acknowledged (stored) by the receiver
	Took     time.Duration
}

// File is one recording, as ffprobe reads it.
type File struct {
	Path     string
	Frames   int
	Duration time.Duration // zero when ffprobe cannot tell (a raw .h264)
	Err      error         // ffprobe's complaint; nil when the file decodes
}

// Console markers; with a debug image the shell's prompt may precede
// them on the same line, which camconsole's patterns allow.
var reAcked = camconsole.Match(camconsole.FirstAckedPrefix)

// Run performs the demo. Cancelling ctx (Ctrl-C) ends the recording
// early, or before it started, but still shuts the camera down cleanly
// (Ctrl-Alt-Del, then the camera's summary) and reports. Only a Ctrl-C
// while the camera is still booting, before camwire-init is up, ends it
// without a summary, and Run returns an error.
func Run(ctx context.Context, c Config) (Report, error) {
	if err := qemuAvailable(); err != nil {
		return Report{}, err
	}
	rcv, err := startRecv(c.Recv, c.Listen, c.Dir, c.Out)
	if err != nil {
		return Report{}, err
	}
	defer rcv.stop()
	return run(ctx, c, rcv)
}

func qemuAvailable() error {
	if err := qemu.Available(); err != nil {
		return fmt.Errorf("%v: run scripts/deps.sh", err)
	}
	return nil
}

// run is Run with the receiver already listening (BuildAndRun starts it
// before building the image, whose receiver setting needs its port).
func run(ctx context.Context, c Config, rcv *receiver) (Report, error) {
	start := time.Now()
	if c.Record == 0 {
		c.Record = 20 * time.Second
	}
	out := rcv.out
	// The camera. Its own deadline: a Ctrl-C must not kill it before
	// the clean shutdown.
	mctx, mcancel := context.WithTimeout(context.Background(), c.Record+3*time.Minute)
	defer mcancel()
	m, err := qemu.Start(mctx, qemu.Config{
		Board: qemu.Virt, Kernel: c.Kernel, Initrd: c.Initrd, Disk: c.Disk,
		Append:   "console=ttyAMA0 rdinit=/init panic=-1 quiet",
		Console:  prefixWriter{out, "pi   | "},
		Input:    c.Stdin != nil,
		OwnGroup: true,
	})
	if err != nil {
		return Report{}, err
	}
	defer m.Close()
	if c.Stdin != nil {
		go func() {
			buf := make([]byte, 4096)
			for {
				n, err := c.Stdin.Read(buf)
				if n > 0 && m.Type(string(buf[:n])) != nil {
					return
				}
				if err != nil {
					return
				}
			}
		}()
	}
	var cur qemu.Cursor
	waitCtx, waitCancel := context.WithTimeout(ctx, 2*time.Minute)
	acked, err := m.WaitFor(waitCtx, &cur, reAcked)
	waitCancel()
	var r Report
	switch {
	case err == nil:
		r.FirstAck = acked.At.Sub(m.Started)
		fmt.Fprintf(out, "demo | first frame on the receiver's disk %.1f s after power on; recording for %v (Ctrl-C stops early)\n",
			r.FirstAck.Seconds(), c.Record)
		select {
		case <-time.After(c.Record):
		case <-ctx.Done():
		}
	case ctx.Err() != nil:
		// Ctrl-C before the first ack: the camera may already be
		// capturing, so it is shut down the same clean way and what
		// it captured is reported.
		fmt.Fprintf(out, "demo | interrupted before the first frame reached the receiver\n")
	default:
		return Report{}, fmt.Errorf("the camera never got a frame to the receiver: %w", err)
	}
	fmt.Fprintf(out, "demo | Ctrl-Alt-Del: clean shutdown\n")
	if err := m.CtrlAltDel(); err != nil {
		return Report{}, err
	}
	// The drain takes at most the recorder's deadlines (~20 s).
	sctx, scancel := context.WithTimeout(mctx, time.Minute)
	defer scancel()
	sum, err := m.WaitFor(sctx, &cur, camconsole.SummaryRE)
	if err != nil {
		if ctx.Err() != nil && r.FirstAck == 0 {
			// Still booting: before camwire-init turns the kernel's
			// instant reboot off, Ctrl-Alt-Del reboots (here: exits).
			return Report{}, fmt.Errorf("interrupted while the camera was booting, before it recorded: %w", err)
		}
		return Report{}, fmt.Errorf("no summary line from the camera: %w", err)
	}
	if err := m.Wait(sctx); err != nil {
		return Report{}, fmt.Errorf("qemu: %w", err)
	}
	rcv.stop()

	if r.Summary, err = camconsole.ParseSummary(sum.Text); err != nil {
		return Report{}, err
	}
	r.Took = time.Since(start)
	for p := range videoFiles(c.Dir) {
		if !rcv.before[p] {
			r.Files = append(r.Files, probe(p))
		}
	}
	sort.Slice(r.Files, func(i, j int) bool { return r.Files[i].Path < r.Files[j].Path })
	return r, nil
}

// Print writes the report for a person: where the files are, each one's
// frames and length, and whether the totals match what the camera
// captured.
func (r Report) Print(w io.Writer, dir string) {
	fmt.Fprintf(w, "\ncamwire demo: %d recordings in %s\n", len(r.Files), dir)
	var frames int
	var dur time.Duration
	for _, f := range r.Files {
		rel, err := filepath.Rel(dir, f.Path)
		if err != nil {
			rel = f.Path
		}
		switch {
		case f.Err != nil:
			fmt.Fprintf(w, "  %-60s  does not decode: %v\n", rel, f.Err)
		case f.Duration > 0:
			fmt.Fprintf(w, "  %-60s  %5d frames  %6.2f s\n", rel, f.Frames, f.Duration.Seconds())
		default:
			fmt.Fprintf(w, "  %-60s  %5d frames\n", rel, f.Frames)
		}
		frames += f.Frames
		dur += f.Duration
	}
	fmt.Fprintf(w, "  total %d frames, %.2f s of video\n", frames, dur.Seconds())
	fmt.Fprintf(w, "camera: %s\n", r.Summary.Format())
	bad := 0
	for _, f := range r.Files {
		if f.Err != nil {
			bad++
		}
	}
	switch {
	case r.OK():
		fmt.Fprintf(w, "every frame the camera captured is in a file, none twice, none dropped.\n")
	case len(r.Files) == 0:
		fmt.Fprintf(w, "PROBLEM: nothing was recorded\n")
	case bad > 0:
		fmt.Fprintf(w, "PROBLEM: %d recordings do not decode\n", bad)
	default:
		fmt.Fprintf(w, "MISMATCH: files hold %d frames, the camera captured %d (acked %d, dropped %d)\n",
			frames, r.Summary.Captured, r.Summary.Acked, r.Summary.Dropped)
	}
	if len(r.Files) > 0 {
		fmt.Fprintf(w, "play one: ffplay %s\n", r.Files[0].Path)
	}
}

// OK says whether the recordings match the camera's count exactly.
func (r Report) OK() bool {
	frames := 0
	for _, f := range r.Files {
		if f.Err != nil {
			return false
		}
		frames += f.Frames
	}
	s := r.Summary
	return len(r.Files) > 0 && uint64(frames) == s.Captured && s.Acked == s.Captured && s.Dropped == 0
}

// videoFiles lists the finished recordings under dir.
func videoFiles(dir string) map[string]bool {
	files := map[string]bool{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".mp4") || strings.HasSuffix(p, ".h264")) {
			files[p] = true
		}
		return nil
	})
	return files
}

// probe decodes a file with ffprobe: frames counted by decoding, and the
// container's duration (an MP4 has one; a raw .h264 does not).
func probe(path string) File {
	in, err := ffprobe.Probe(path)
	return File{Path: path, Frames: in.Frames, Duration: in.Duration, Err: err}
}

// lockedWriter serialises whole lines from the console and the receiver.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

type prefixWriter struct {
	w      io.Writer
	prefix string
}

func (p prefixWriter) Write(b []byte) (int, error) {
	if _, err := io.WriteString(p.w, p.prefix+string(b)); err != nil {
		return 0, err
	}
	return len(b), nil
}
