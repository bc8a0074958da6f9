//go:build unix

// Command pace is the camera of the camera-pace benchmarks: it writes an
// H.264 Annex-B file to stdout access unit by access unit at a camera's
// frame rate, as raspivid writes to its pipe, and exits. A burst (cat
// FILE) measures something no camera does: a sender that must hold
// everything it has not had acknowledged pays for fresh memory that a
// sender at camera pace recycles. The same pacer feeds camwire-init's
// exec source and nc, so both see the same bytes at the same times.
//
//	pace [-fps 30] [-cpu FILE] [-once MARKER] CLIP
//
// The clip is cut into access units by segment.Splitter before the first
// write (an empty clip is an error), and unit i goes out at start + i/fps (a late unit goes at once, so
// a loaded machine delays frames but never drops or reorders them). Every
// byte of CLIP is written: a clip with bytes outside any access unit is an
// error, not a shorter run.
//
// -cpu appends one line per run to FILE, "cpu_ns=N frames=N bytes=N
// wall_ns=N late_ns=N" (getrusage(RUSAGE_SELF) at the end, the pacing
// time, the latest unit's delay), so a benchmark can take the pacer's own
// CPU out of a parent's wait4 figure: camwire-init counts the camera
// command it waits for. -once MARKER: when MARKER exists the run writes
// nothing, says so on stderr and waits for SIGTERM (after its -cpu
// line), otherwise it creates
// MARKER and paces; camwire-init restarts a camera command that ended, and
// the restart must not send the clip again.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/camwire/camwire/segment"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "pace:", err)
		os.Exit(1)
	}
}

// idleLine is what a -once run that finds its marker prints to stderr
// (after its -cpu line) before it waits: camwire-init logs it, and a
// benchmark stops camwire-init only then, so every pacer run it started
// has reported its CPU.
const idleLine = "pace: marker exists, idle until SIGTERM"

// stats is one run's -cpu line.
type stats struct {
	frames, bytes int
	wall, late    time.Duration
}

func run(args []string) error {
	fl := flag.NewFlagSet("pace", flag.ContinueOnError)
	fps := fl.Int("fps", 30, "access units per second")
	cpuFile := fl.String("cpu", "", "append this run's own CPU time (and pacing figures) to this file")
	once := fl.String("once", "", "pace only if this file does not exist (and create it); otherwise wait for SIGTERM")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() != 1 || *fps <= 0 {
		return errors.New("usage: pace [-fps N] [-cpu FILE] [-once MARKER] CLIP")
	}
	if *once != "" {
		f, err := os.OpenFile(*once, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if errors.Is(err, fs.ErrExist) {
			// Before waiting, so the caller can subtract this run too.
			if err := report(*cpuFile, stats{}); err != nil {
				return err
			}
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
			fmt.Fprintln(os.Stderr, idleLine)
			<-sig
			return nil
		}
		if err != nil {
			return err
		}
		f.Close()
	}
	clip, err := os.Open(fl.Arg(0))
	if err != nil {
		return err
	}
	defer clip.Close()
	sizes, err := split(clip)
	if err != nil {
		return fmt.Errorf("%s: %w", fl.Arg(0), err)
	}
	st, err := pace(os.Stdout, clip, sizes, time.Second/time.Duration(*fps))
	if err != nil {
		return err
	}
	// Closed before the report, so the reader sees the end at once.
	if err := os.Stdout.Close(); err != nil {
		return err
	}
	return report(*cpuFile, st)
}

// split reads clip through a segment.Splitter and returns the sizes of
// its access units, checking they hold all of it. The pacer keeps no copy
// of the clip (it reads each unit again as it writes it): memory it
// touched would cost page faults and, at exit, freeing, which its own
// getrusage would not see but its parent's wait4 would.
func split(clip *os.File) ([]int, error) {
	var sp segment.Splitter
	var sizes []int
	total, n := 0, 0
	add := func(aus []segment.AU) {
		for _, au := range aus {
			sizes = append(sizes, len(au.Data))
			n += len(au.Data)
			au.Release()
		}
	}
	for {
		k, err := clip.Read(sp.Buffer(256 << 10))
		total += k
		aus, serr := sp.Written(k, 0)
		add(aus)
		if serr != nil {
			return nil, serr
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	add(sp.Flush())
	if len(sizes) == 0 {
		return nil, errors.New("no access unit")
	}
	if n != total || sp.Dropped() != 0 {
		return nil, fmt.Errorf("access units hold %d of its %d bytes (%d outside any)", n, total, sp.Dropped())
	}
	return sizes, nil
}

// pace writes clip's access units (of sizes) to w, unit i at start +
// i*frame, each read from the file into one reused buffer first.
func pace(w *os.File, clip *os.File, sizes []int, frame time.Duration) (stats, error) {
	st := stats{frames: len(sizes)}
	buf := make([]byte, slices.Max(sizes))
	var off int64
	start := time.Now()
	for i, n := range sizes {
		if _, err := clip.ReadAt(buf[:n], off); err != nil {
			return st, fmt.Errorf("reading access unit %d of %d: %w", i+1, len(sizes), err)
		}
		off += int64(n)
		due := start.Add(time.Duration(i) * frame)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		} else {
			st.late = max(st.late, -d)
		}
		if _, err := w.Write(buf[:n]); err != nil {
			return st, fmt.Errorf("writing access unit %d of %d: %w", i+1, len(sizes), err)
		}
		st.bytes += n
	}
	st.wall = time.Since(start)
	return st, nil
}

// report appends the run's own CPU time and st to file ("" = nowhere).
func report(file string, st stats) error {
	if file == "" {
		return nil
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return fmt.Errorf("getrusage: %w", err)
	}
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	f, err := os.OpenFile(file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "cpu_ns=%d frames=%d bytes=%d wall_ns=%d late_ns=%d\n",
		cpu.Nanoseconds(), st.frames, st.bytes, st.wall.Nanoseconds(), st.late.Nanoseconds())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
