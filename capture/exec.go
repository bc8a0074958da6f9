package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/camwire/camwire/internal/backoff"
	"github.com/camwire/camwire/internal/rawio"
	"github.com/camwire/camwire/segment"
)

// Exec is a camera behind a command that writes H.264 Annex-B to its
// stdout: raspivid or rpicam-vid with "-o -", ffmpeg with "-f h264 -",
// "cat FILE". Its stdout goes through a segment.Splitter, so each AU
// emitted is a slice of a segment.Block it holds a reference to (see
// segment.AU.Block), stamped with the arrival time of the bytes that began
// it (the command gives no capture times). The command's stderr lines are
// logged.
//
// When the command exits or its output is broken, Exec logs why and starts
// it again after a pause that doubles from MinBackoff to MaxBackoff (and
// starts over once a run lasted longer than StableAfter): a camera process
// that crashes must not end the recording. Only a command that can never
// start (not found, not executable) ends Run.
type Exec struct {
	Command []string // program and arguments

	MinBackoff  time.Duration        // first pause before a restart; 0 means 100 ms
	MaxBackoff  time.Duration        // longest pause; 0 means 2 s
	StableAfter time.Duration        // a run this long resets the pause; 0 means 10 s
	MaxAU       int                  // see segment.Splitter.MaxAU
	Logger      *slog.Logger         // nil means slog.Default()
	Now         func() time.Duration // clock; nil means Monotonic
}

// readChunk is the least room a read of the command's stdout gets: a
// pipe holds 64 KiB.
const readChunk = 64 << 10

// Run implements Source.
func (e *Exec) Run(ctx context.Context, emit func(segment.AU)) error {
	if len(e.Command) == 0 {
		return errors.New("exec capture: no command")
	}
	log := e.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("source", "exec", "cmd", e.Command[0])
	minB, maxB, stable := e.MinBackoff, e.MaxBackoff, e.StableAfter
	if minB <= 0 {
		minB = 100 * time.Millisecond
	}
	if maxB <= 0 {
		maxB = 2 * time.Second
	}
	if stable <= 0 {
		stable = 10 * time.Second
	}
	retry := backoff.Backoff{Min: minB, Max: maxB, Stable: stable}
	for run := 1; ; run++ {
		began := time.Now()
		err := e.runOnce(ctx, log, emit)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, errStart) {
			return fmt.Errorf("exec capture: %w", err)
		}
		pause := retry.Next(time.Since(began))
		log.Warn("camera command ended, restarting", "run", run, "err", err, "pause", pause)
		if !backoff.Sleep(ctx, pause) {
			return ctx.Err()
		}
	}
}

// errStart marks a command that could not be started: restarting it
// would fail the same way.
var errStart = errors.New("cannot start")

// runOnce runs the command until its stdout ends and it has exited, and
// returns why it ended (never nil: a camera command is not meant to end).
func (e *Exec) runOnce(ctx context.Context, log *slog.Logger, emit func(segment.AU)) error {
	now := e.Now
	if now == nil {
		now = Monotonic
	}
	cmd := exec.CommandContext(ctx, e.Command[0], e.Command[1:]...)
	cmd.WaitDelay = time.Second // a grandchild holding stderr open must not hang Wait
	stderr := &lineLogger{log: log}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("%w: %v", errStart, err)
	}
	if err := cmd.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("%w %s: %w", errStart, e.Command[0], err)
		}
		return fmt.Errorf("start %s: %w", e.Command[0], err) // e.g. out of memory: worth another try
	}
	log.Info("camera command started", "pid", cmd.Process.Pid, "args", strings.Join(e.Command[1:], " "))
	if err := growPipe(out); err != nil {
		log.Debug("camera command's stdout pipe keeps its size", "err", err)
	}

	// The command's output is read straight into the Splitter's blocks
	// and the AUs emitted are slices of them (see segment.Block): the
	// bytes are not copied on their way to the sender.
	sp := segment.Splitter{MaxAU: e.MaxAU}
	// rawio: a frame arriving at an idle recorder must not wake the
	// runtime's sysmon (see the package).
	in := rawio.Reader(out)
	var frames int
	var readErr error
	for {
		n, err := in.Read(sp.Buffer(readChunk))
		if n > 0 {
			aus, serr := sp.Written(n, now())
			for _, au := range aus {
				emit(au)
			}
			frames += len(aus)
			if serr != nil {
				log.Error("camera output is not H.264, dropped", "err", serr)
			}
		}
		if err != nil {
			if err != io.EOF {
				readErr = err
			}
			break
		}
	}
	last := sp.Flush()
	for _, au := range last {
		emit(au)
	}
	frames += len(last)
	if d := sp.Dropped(); d > 0 {
		log.Warn("camera output bytes outside any access unit", "bytes", d)
	}
	waitErr := cmd.Wait()
	stderr.flush()
	state := "exit status 0"
	if cmd.ProcessState != nil {
		state = cmd.ProcessState.String()
	}
	log.Info("camera command exited", "pid", cmd.Process.Pid, "status", state, "frames", frames)
	switch {
	case readErr != nil:
		return fmt.Errorf("reading stdout: %w", readErr)
	case waitErr != nil:
		return waitErr
	default:
		return fmt.Errorf("%s ended (%s) after %d frames", e.Command[0], state, frames)
	}
}

// lineLogger logs what a command writes to stderr, one record per line,
// so raspivid's complaints (no camera, out of memory) land in the log.
type lineLogger struct {
	log  *slog.Logger
	mu   sync.Mutex
	part []byte
}

// maxLine bounds a stderr line kept in memory; longer ones are logged in pieces.
const maxLine = 4096

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.part = append(l.part, p...)
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			if len(l.part) >= maxLine {
				l.emit(l.part)
				l.part = l.part[:0]
			}
			return len(p), nil
		}
		l.emit(l.part[:i])
		l.part = l.part[i+1:]
	}
}

func (l *lineLogger) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.part) > 0 {
		l.emit(l.part)
		l.part = nil
	}
}

func (l *lineLogger) emit(line []byte) {
	if s := strings.TrimRight(string(line), "\r"); s != "" {
		l.log.Warn("camera command stderr", "line", s)
	}
}
