package pid1

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"syscall"
	"time"

	"github.com/camwire/camwire/internal/backoff"
	"golang.org/x/sys/unix"
)

// ShellPath is the debug image's shell (u-root's gosh, see image.Options.Debug).
const ShellPath = "/bin/gosh"

// Shell keeps a debugging shell on one terminal: started with the
// terminal as its stdin, stdout, stderr and controlling terminal (so
// Ctrl-C reaches the shell's commands, never PID 1), and started again
// whenever it ends, so typing "exit" or crashing it never leaves the
// console dead.
//
// Shell does not wait(2) for its process: PID 1 reaps every child in one
// place (Supervisor, see the rule there), which hands the shell's pid to
// Reaped. So start a Shell only after Supervisor.Ready: from then until
// the Supervisor's ctx ends its Run reaps, even when the recorder cannot
// be started, and a shell that exits is collected and started again. At
// shutdown PID 1 ends the shells before the Supervisor, and WaitOrphans
// collects whatever is left after it.
type Shell struct {
	Path string   // the shell; ShellPath on the image
	TTY  string   // its terminal, e.g. /dev/ttyAMA0
	Env  []string // its whole environment
	// RestartDelay is the pause before a new shell; default 1 s. After
	// each shell that fails quickly (cannot start, or exits within
	// StableAfter) the pause doubles, up to MaxRestartDelay (default
	// 1 min): a shell that can never run must not print a line on the
	// console every second for the rest of the boot. A shell that lived
	// StableAfter (default 5 s) or longer, the user typing "exit", brings
	// the pause back to RestartDelay.
	RestartDelay    time.Duration
	MaxRestartDelay time.Duration
	StableAfter     time.Duration
	Logf            func(format string, args ...any)

	// sleep pauses for d; false when ctx ended first. A seam for tests;
	// nil means backoff.Sleep.
	sleep func(ctx context.Context, d time.Duration) bool

	mu     sync.Mutex
	pid    int
	exited chan struct{} // closed when pid is reaped
}

func (s *Shell) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}

// Run keeps the shell running until ctx ends, then kills it (it is a
// debugging aid; nothing in it needs a clean stop).
func (s *Shell) Run(ctx context.Context) {
	b := backoff.Backoff{
		Min:    cmp.Or(s.RestartDelay, time.Second),
		Max:    cmp.Or(s.MaxRestartDelay, time.Minute),
		Stable: cmp.Or(s.StableAfter, 5*time.Second),
	}
	sleep := s.sleep
	if sleep == nil {
		sleep = backoff.Sleep
	}
	for ctx.Err() == nil {
		started := time.Now()
		exited, err := s.start()
		var lived time.Duration // 0: it did not start, a quick failure
		if err == nil {
			select {
			case <-exited:
				lived = time.Since(started)
			case <-ctx.Done():
				s.kill()
				return
			}
		}
		delay := b.Next(lived)
		if err != nil {
			s.logf("shell: %v (trying again in %v)", err, delay)
		}
		if !sleep(ctx, delay) {
			return
		}
	}
}

// start runs one shell in its own session with TTY as its controlling
// terminal. It holds mu until the pid is recorded, so Reaped cannot miss
// a shell that ends at once.
func (s *Shell) start() (<-chan struct{}, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// O_NOCTTY: the terminal must become the shell's, not PID 1's.
	tty, err := os.OpenFile(s.TTY, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	defer tty.Close()
	cmd := exec.Command(s.Path)
	cmd.Dir = "/"
	cmd.Env = s.Env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s on %s: %w", s.Path, s.TTY, err)
	}
	s.pid = cmd.Process.Pid
	s.exited = make(chan struct{})
	cmd.Process.Release() // reaped by pid in Reaped's caller
	s.logf("shell: %s on %s, pid %d", s.Path, s.TTY, s.pid)
	return s.exited, nil
}

// Reaped tells the shell that process pid has been reaped; it reports
// whether that was the shell. Pass it to Supervisor.OnReap.
func (s *Shell) Reaped(pid int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pid == 0 || pid != s.pid {
		return false
	}
	s.pid = 0
	close(s.exited)
	return true
}

func (s *Shell) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pid != 0 {
		unix.Kill(-s.pid, unix.SIGKILL) // its session's process group
	}
}

// ShellTTYs picks the terminals for debug shells from the active consoles
// (ConsoleNames): every one that is a real terminal, i.e. the serial port
// and the screen, not the "console" alias (it cannot be a controlling
// terminal) nor tty0 (whichever screen is in front).
func ShellTTYs(devDir string, consoles []string) []string {
	var ttys []string
	for _, c := range consoles {
		if c == "console" || c == "tty0" || !ttyName.MatchString(c) {
			continue
		}
		ttys = append(ttys, devDir+"/"+c)
	}
	return ttys
}

var ttyName = regexp.MustCompile(`^tty[A-Za-z]*[0-9]+$`)
