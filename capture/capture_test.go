package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/camwire/camwire/internal/ffprobe"
	"github.com/camwire/camwire/internal/syncbuf"
	"github.com/camwire/camwire/segment"
)

// ffprobeFrames decodes an Annex-B file with the real ffprobe and returns
// how many frames it read; the test skips when ffprobe is missing.
func ffprobeFrames(t *testing.T, data []byte) int {
	t.Helper()
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Skip("ffprobe not installed (package ffmpeg): cannot check that the video decodes")
	}
	name := filepath.Join(t.TempDir(), "v.h264")
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := ffprobe.Frames(name)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestTestSourceFast(t *testing.T) {
	const loops = 3
	start := 5 * time.Second
	src := TestSource{Fast: true, Loops: loops, Now: func() time.Duration { return start }}
	var aus []segment.AU
	if err := src.Run(context.Background(), func(au segment.AU) { aus = append(aus, au) }); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if len(aus) != loops*ClipFrames {
		t.Fatalf("Run emitted %d AUs, want %d", len(aus), loops*ClipFrames)
	}
	var all []byte
	for i, au := range aus {
		if want := start + time.Duration(i)*time.Second/ClipFPS; au.Time != want {
			t.Errorf("AU %d Time = %v, want %v (continuous across loops)", i, au.Time, want)
		}
		if want := i%ClipGOP == 0; au.Key != want {
			t.Errorf("AU %d Key = %v, want %v", i, au.Key, want)
		}
		all = append(all, au.Data...)
	}
	// The AUs are the receiver's to keep: changing one must not change the next loop's.
	aus[0].Data[len(aus[0].Data)-1] ^= 0xff
	if bytes.Equal(aus[0].Data, aus[ClipFrames].Data) {
		t.Errorf("AU data is shared between loops")
	}
	aus[0].Data[len(aus[0].Data)-1] ^= 0xff
	if got := ffprobeFrames(t, all); got != loops*ClipFrames {
		t.Errorf("ffprobe decoded %d frames of the looped stream, want %d", got, loops*ClipFrames)
	}
}

// TestTestSourcePaced checks that pacing never runs ahead of real time:
// frame i is not emitted before i/FPS after Run began (a timer never fires
// early, so this cannot flake), and cancel ends Run with ctx's error.
func TestTestSourcePaced(t *testing.T) {
	const fps, n = 300, 30
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := TestSource{FPS: fps}
	var got int
	began := time.Now()
	err := src.Run(ctx, func(au segment.AU) {
		if min := time.Duration(got) * time.Second / fps; time.Since(began) < min {
			t.Errorf("frame %d emitted %v after start, before its time %v", got, time.Since(began), min)
		}
		got++
		if got == n {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run after cancel = %v, want context.Canceled", err)
	}
	if got != n {
		t.Errorf("emitted %d frames, want %d (none after cancel)", got, n)
	}
}

// TestExecRestarts runs a real shell command that writes part of the clip,
// complains on stderr and dies with status 3, again and again: AUs must
// keep flowing across restarts, in time order, and the complaint and exit
// status must be logged.
func TestExecRestarts(t *testing.T) {
	dir := t.TempDir()
	clip := filepath.Join(dir, "clip.h264")
	if err := os.WriteFile(clip, TestClip(), 0o644); err != nil {
		t.Fatal(err)
	}
	aus, err := clipAUs()
	if err != nil {
		t.Fatal(err)
	}
	// Cut in the middle of AU 45: 45 whole AUs and a broken one per run.
	cut := 0
	for _, au := range aus[:45] {
		cut += len(au.Data)
	}
	cut += len(aus[45].Data) / 2
	script := fmt.Sprintf("head -c %d %s; echo 'camera: out of film' >&2; exit 3", cut, clip)

	var logs syncbuf.Buffer
	src := Exec{
		Command:    []string{"sh", "-c", script},
		MinBackoff: time.Millisecond,
		Logger:     slog.New(slog.NewTextHandler(&logs, nil)),
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const runs = 3
	var got []segment.AU
	err = src.Run(ctx, func(au segment.AU) {
		got = append(got, au)
		if len(got) == runs*46 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	for i, au := range got {
		run, k := i/46, i%46
		if want := aus[k].Key; au.Key != want {
			t.Errorf("run %d AU %d Key = %v, want %v", run, k, au.Key, want)
		}
		if k < 45 && !bytes.Equal(au.Data, aus[k].Data) {
			t.Errorf("run %d AU %d differs from the clip's", run, k)
		}
		if i > 0 && au.Time < got[i-1].Time {
			t.Errorf("AU %d Time %v before AU %d's %v", i, au.Time, i-1, got[i-1].Time)
		}
	}
	out := logs.String()
	for _, want := range []string{"camera: out of film", "exit status 3", "restarting"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

// TestExecCannotStart: a command that can never run ends Run at once with
// an error naming it, instead of being retried forever.
func TestExecCannotStart(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "not-executable")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{filepath.Join(dir, "no-such-camera"), notExec} {
		src := Exec{Command: []string{name}, Logger: slog.New(slog.DiscardHandler)}
		err := src.Run(context.Background(), func(segment.AU) { t.Error("emit called") })
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Run(%s) = %v, want an error naming it", name, err)
		}
	}
}
