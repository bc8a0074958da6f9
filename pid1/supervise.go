package pid1

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/camwire/camwire/internal/backoff"
	"golang.org/x/sys/unix"
)

// Supervisor runs one child process (the recorder) and reaps every other
// process that ends up as PID 1's child.
//
// Why a child process: PID 1 inherits every orphan and must wait(2) for
// each, or zombies pile up. A Wait4(-1) loop in a process that also runs
// exec.Cmd (the exec capture source runs raspivid) steals that command's
// exit status: Cmd.Wait then fails with ECHILD and the recorder cannot
// tell a camera crash from a clean stop. So PID 1 does no exec.Cmd.Wait
// at all: it starts the recorder as a child (the same binary; a process
// that is not PID 1 runs only the recorder), reaps with Wait4(-1) and
// recognises the recorder's pid itself, as u-root's libinit.RunCommands
// does. raspivid is the recorder's child, so its status reaches the
// recorder's Cmd.Wait untouched; only processes whose parent died come to
// PID 1, and nobody else waits for those. This is also gokrazy's shape:
// a crashed recorder is restarted after a pause, and PID 1 never exits.
//
// Rule that follows: nothing in the PID-1 process may fork and Wait.
type Supervisor struct {
	Path string   // program to run; "/proc/self/exe" re-runs this binary
	Args []string // argv[1:]
	Env  []string // full environment; nil inherits PID 1's

	// Settled, if set, starts the recorder before its arguments are
	// known: the child gets no command-line arguments but a pipe as its
	// file descriptor 3 (named by ArgsEnv in its environment, see
	// HeldArgs), and Args go down that pipe once Settled is closed (set
	// Args before closing it). PID 1 starts the recorder that way at the
	// beginning of the boot, so the exec of a large static binary and
	// the Go runtime's start, a third of a second under QEMU's
	// emulation, overlap the module loading instead of following the
	// settings; the settings still come from the boot partition. A
	// restart after Settled is closed gets its Args at once.
	Settled <-chan struct{}

	// Output receives the child's stdout and stderr, line by line (the
	// consoles). OnLine, if set, sees each line too: the recorder's
	// "camwire: state …" lines drive the LED.
	Output io.Writer
	OnLine func(line string)

	// OnExit is called after the recorder ends, with the error that
	// describes how (nil for exit status 0).
	OnExit func(err error)

	// OnReap is called for every other process reaped: orphans, and
	// PID 1's other children (the debug shell, see Shell.Reaped).
	OnReap func(pid int, status unix.WaitStatus)

	// Ready, if set, is closed once Run catches SIGCHLD. From then until
	// ctx ends Run reaps every child, even when the recorder cannot be
	// started at all, so a child started after Ready is reaped (OnReap)
	// however soon it ends.
	Ready chan struct{}

	RestartDelay time.Duration // pause before restarting a crashed recorder; default 2 s
	StopTimeout  time.Duration // SIGTERM → SIGKILL at shutdown; default 15 s
	// OutputGrace bounds the wait, once the recorder has stopped, for
	// the rest of its output (its summary line) to reach Output and
	// OnLine; default 1 s. The copy ends when every writer of the pipe
	// has closed it, and a child the recorder left behind may hold it.
	OutputGrace time.Duration
	Logf        func(format string, args ...any)

	mu      sync.Mutex    // held while starting a child and while reaping
	pid     int           // current recorder, 0 when none
	outDone chan struct{} // closed when the last recorder's output is copied
}

func (s *Supervisor) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}

// Run supervises until ctx ends, then stops the recorder (SIGTERM, and
// SIGKILL to its process group after StopTimeout) and returns once it has
// been reaped and its output copied to the end (within OutputGrace). It
// never returns before ctx ends: PID 1 must go on reaping whatever
// happens to the recorder.
//
// When the recorder cannot be started (fork failing for lack of memory,
// say), Run logs it, calls OnExit with the error and tries again after
// RestartDelay, doubling the pause after every failure in a row up to a
// minute, so a passing shortage costs a little recording and a lasting
// one does not fill the console. If ctx ends while the last try failed,
// Run returns that error.
func (s *Supervisor) Run(ctx context.Context) error {
	restart := s.RestartDelay
	if restart == 0 {
		restart = 2 * time.Second
	}
	stopTimeout := s.StopTimeout
	if stopTimeout == 0 {
		stopTimeout = 15 * time.Second
	}
	sigchld := make(chan os.Signal, 1)
	signal.Notify(sigchld, unix.SIGCHLD)
	defer signal.Stop(sigchld)
	if s.Ready != nil {
		close(s.Ready)
	}

	exited := make(chan unix.WaitStatus, 1)
	defer s.waitOutput(sigchld, exited)
	var startErr error // the last try to start failed
	// Start failures in a row double the pause; a start resets it.
	retry := backoff.Backoff{Min: restart, Max: max(restart, time.Minute)}
	for {
		// Reap anything that ended before we start (SIGCHLD coalesces).
		s.reap(exited)
		if ctx.Err() != nil {
			return startErr
		}
		pause := restart
		if startErr = s.start(); startErr != nil {
			pause = retry.Next(0)
			s.logf("supervisor: %v (trying again in %v)", startErr, pause)
			if s.OnExit != nil {
				s.OnExit(startErr)
			}
		} else {
			retry.Reset()
			err := exitError(s.wait(ctx, sigchld, exited, stopTimeout))
			if err != nil {
				s.logf("supervisor: recorder %v", err)
			}
			if s.OnExit != nil {
				s.OnExit(err)
			}
		}
		// Pause before a restart, still reaping: orphans and the debug
		// shell keep ending.
		t := time.NewTimer(pause)
		for waiting := true; waiting; {
			select {
			case <-ctx.Done():
				t.Stop()
				return startErr
			case <-sigchld:
				s.reap(exited)
			case <-t.C:
				waiting = false
			}
		}
	}
}

// wait reaps until the recorder has ended and returns its status. When
// ctx ends it asks the recorder to stop (SIGTERM: it drains its sender and
// prints its summary) and kills its process group after stopTimeout.
func (s *Supervisor) wait(ctx context.Context, sigchld <-chan os.Signal, exited chan unix.WaitStatus, stopTimeout time.Duration) unix.WaitStatus {
	done := ctx.Done()
	var killAt <-chan time.Time
	for {
		select {
		case <-sigchld:
			s.reap(exited)
		case ws := <-exited:
			return ws
		case <-done:
			done = nil
			s.signal(unix.SIGTERM, false)
			killAt = time.After(stopTimeout)
		case <-killAt:
			s.logf("supervisor: recorder did not stop within %v, killing it", stopTimeout)
			s.signal(unix.SIGKILL, true)
			killAt = nil
		}
	}
}

func exitError(ws unix.WaitStatus) error {
	switch {
	case ws.Exited() && ws.ExitStatus() == 0:
		return nil
	case ws.Exited():
		return fmt.Errorf("exited with status %d", ws.ExitStatus())
	case ws.Signaled():
		return fmt.Errorf("killed by signal %v", ws.Signal())
	}
	return fmt.Errorf("ended with wait status %#x", uint32(ws))
}

// start runs the recorder with its output on a pipe. It holds mu so the
// reaper cannot collect the child before its pid is recorded.
func (s *Supervisor) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	var args []string
	if s.Settled == nil { // else Args may not be set yet: handArgs reads them
		args = s.Args
	}
	cmd := exec.Command(s.Path, args...)
	cmd.Env = s.Env
	cmd.Stdout = pw // an *os.File is handed to the child as is: no copy goroutine that would need Wait
	cmd.Stderr = pw
	// Its own process group, so SIGKILL at shutdown also reaches raspivid.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var ar, aw *os.File // the held arguments' pipe (Settled)
	if s.Settled != nil {
		if ar, aw, err = os.Pipe(); err != nil {
			pr.Close()
			pw.Close()
			return err
		}
		cmd.ExtraFiles = []*os.File{ar} // fd 3
		env := cmd.Env
		if env == nil {
			env = os.Environ()
		}
		cmd.Env = append(slices.Clip(env), ArgsEnv+"=3")
	}
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		if ar != nil {
			ar.Close()
			aw.Close()
		}
		return fmt.Errorf("start %s: %w", s.Path, err)
	}
	pw.Close()
	if ar != nil {
		ar.Close()
	}
	s.pid = cmd.Process.Pid
	// We reap by pid ourselves; Release frees the pidfd Go keeps.
	cmd.Process.Release()
	s.logf("supervisor: recorder started, pid %d", s.pid)
	s.outDone = make(chan struct{})
	go s.copyLines(pr, s.outDone)
	if aw != nil {
		go s.handArgs(aw, s.outDone)
	}
	return nil
}

// ArgsEnv is the environment variable that tells a child started before
// its arguments were known (Supervisor.Settled) which file descriptor
// they come on.
const ArgsEnv = "CAMWIRE_ARGS_FD"

// handArgs writes Args to w once Settled is closed (each ended by a NUL,
// the way /proc/PID/cmdline has them, then a newline that says they are
// all there) and closes w; it gives up when
// the child's output has ended (it is gone before it got them).
func (s *Supervisor) handArgs(w *os.File, gone <-chan struct{}) {
	defer w.Close()
	select {
	case <-s.Settled:
	case <-gone:
		return
	}
	var b []byte
	for _, a := range s.Args {
		b = append(append(b, a...), 0)
	}
	b = append(b, '\n')
	// A pipe holds 64 KiB: the write does not wait for the child. One
	// that has ended gives EPIPE, which its exit status reports.
	if _, err := w.Write(b); err != nil {
		s.logf("supervisor: handing the recorder its arguments: %v", err)
	}
}

// HeldArgs returns the arguments of a process a Supervisor started with
// Settled, waiting until they come; held is false, and nothing is read,
// for a process started the usual way (ArgsEnv unset). It unsets ArgsEnv
// and closes the pipe, so the recorder's own children (raspivid) get
// neither.
func HeldArgs() (args []string, held bool, err error) {
	v, ok := os.LookupEnv(ArgsEnv)
	if !ok {
		return nil, false, nil
	}
	os.Unsetenv(ArgsEnv)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, true, fmt.Errorf("%s=%q: not a file descriptor", ArgsEnv, v)
	}
	f := os.NewFile(uintptr(fd), "held-args")
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, true, fmt.Errorf("reading the arguments from %s=%d: %w", ArgsEnv, fd, err)
	}
	b, whole := bytes.CutSuffix(b, []byte("\n"))
	if !whole || len(b) > 0 && b[len(b)-1] != 0 {
		return nil, true, fmt.Errorf("arguments from %s=%d cut short (the supervisor ended?)", ArgsEnv, fd)
	}
	args = []string{}
	for len(b) > 0 {
		i := bytes.IndexByte(b, 0)
		args = append(args, string(b[:i]))
		b = b[i+1:]
	}
	return args, true, nil
}

// waitOutput waits, still reaping, until the last recorder's output has
// been copied, or for OutputGrace.
func (s *Supervisor) waitOutput(sigchld <-chan os.Signal, exited chan unix.WaitStatus) {
	s.mu.Lock()
	done := s.outDone
	s.mu.Unlock()
	if done == nil {
		return
	}
	grace := time.NewTimer(cmp.Or(s.OutputGrace, time.Second))
	defer grace.Stop()
	for {
		select {
		case <-done:
			return
		case <-sigchld:
			s.reap(exited)
		case <-grace.C:
			s.logf("supervisor: recorder output still open after %v (a child of it holds it)", cmp.Or(s.OutputGrace, time.Second))
			return
		}
	}
}

func (s *Supervisor) copyLines(r *os.File, done chan<- struct{}) {
	defer close(done)
	defer r.Close()
	br := bufio.NewReaderSize(r, 4096)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			if !strings.HasSuffix(line, "\n") {
				line += "\n"
			}
			if s.Output != nil {
				io.WriteString(s.Output, line)
			}
			if s.OnLine != nil {
				s.OnLine(strings.TrimRight(line, "\r\n"))
			}
		}
		if err != nil {
			return
		}
	}
}

// reap collects every child that has ended, without blocking. The
// recorder's status goes to exited; every other pid is an orphan that
// only needed collecting.
func (s *Supervisor) reap(exited chan<- unix.WaitStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
		if pid == s.pid {
			s.pid = 0
			select {
			case exited <- ws:
			default:
			}
			continue
		}
		if s.OnReap != nil {
			s.OnReap(pid, ws)
		}
	}
}

// signal sends sig to the recorder, or to its whole process group.
func (s *Supervisor) signal(sig unix.Signal, group bool) {
	s.mu.Lock()
	pid := s.pid
	s.mu.Unlock()
	if pid == 0 {
		return
	}
	if group {
		pid = -pid
	}
	if err := unix.Kill(pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
		s.logf("supervisor: kill(%d, %v): %v", pid, sig, err)
	}
}

// ReapOrphans collects every child that has ended, without blocking,
// and returns how many. WaitOrphans builds on it.
func ReapOrphans() int {
	n := 0
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if pid <= 0 || err != nil {
			return n
		}
		n++
	}
}

// WaitOrphans reaps children until none is left (wait4 says ECHILD), as
// u-root's libinit.WaitOrphans does at the end of an init, but for at
// most d: a process that ignores its SIGTERM must not hold the power
// off. It returns how many it reaped, and an error when some still run.
// PID 1's shutdown calls it once the Supervisor has stopped reaping.
func WaitOrphans(d time.Duration) (int, error) {
	sigchld := make(chan os.Signal, 1)
	signal.Notify(sigchld, unix.SIGCHLD)
	defer signal.Stop(sigchld)
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	n := 0
	for {
		n += ReapOrphans()
		// WNOHANG with nothing ended: 0 while children run, ECHILD
		// once there are none.
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		switch {
		case errors.Is(err, unix.ECHILD):
			return n, nil
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return n, fmt.Errorf("wait4: %w", err)
		case pid > 0:
			n++
			continue
		}
		select {
		case <-sigchld:
		case <-deadline.C:
			return n, fmt.Errorf("children still running after %v", d)
		}
	}
}
