package qemu

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Machine is a running emulator.
type Machine struct {
	Started time.Time

	cmd     *exec.Cmd
	stdin   io.WriteCloser
	monPath string
	tmpDir  string
	stderr  stderrTail
	done    chan struct{}
	waitErr error // cmd.Wait's; set before done is closed

	mu      sync.Mutex
	lines   []Line
	changed chan struct{} // closed and replaced on every new line
	eof     bool
}

// Line is one console line and when it arrived.
type Line struct {
	Text string
	At   time.Time
}

// Start boots the machine. ctx ending kills it. Call Close when done.
func Start(ctx context.Context, c Config) (_ *Machine, err error) {
	if err := Available(); err != nil {
		return nil, err
	}
	args, err := Args(c)
	if err != nil {
		return nil, err
	}
	m := &Machine{done: make(chan struct{}), changed: make(chan struct{})}
	dir := c.Dir
	if dir == "" {
		// Unix socket paths are limited to 108 bytes: keep it short.
		if dir, err = os.MkdirTemp("", "qemu-"); err != nil {
			return nil, err
		}
		m.tmpDir = dir
		// Close removes it once the emulator runs; before that, a
		// failure has no Machine to Close.
		defer func() {
			if err != nil {
				os.RemoveAll(dir)
			}
		}()
	}
	m.monPath = filepath.Join(dir, "mon.sock")
	args = append(args, "-monitor", "unix:"+m.monPath+",server,nowait", "-serial", "stdio")
	m.cmd = exec.CommandContext(ctx, Binary, args...)
	if c.OwnGroup {
		m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	if c.Input {
		if m.stdin, err = m.cmd.StdinPipe(); err != nil {
			return nil, err
		}
	}
	out, err := m.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	m.cmd.Stderr = &m.stderr
	m.Started = time.Now()
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	readDone := make(chan struct{})
	go m.read(out, c.Console, readDone)
	go func() {
		<-readDone
		m.waitErr = m.cmd.Wait()
		close(m.done)
	}()
	return m, nil
}

// read splits the console into lines. Serial output uses \r\n.
func (m *Machine) read(r io.Reader, copyTo io.Writer, done chan struct{}) {
	defer close(done)
	br := bufio.NewReader(r)
	for {
		b, err := br.ReadBytes('\n')
		if len(b) > 0 {
			text := strings.TrimRight(string(b), "\r\n")
			if copyTo != nil && strings.HasSuffix(string(b), "\n") {
				fmt.Fprintln(copyTo, text)
			}
			if strings.HasSuffix(string(b), "\n") || err != nil {
				m.add(text)
			}
		}
		if err != nil {
			m.mu.Lock()
			m.eof = true
			close(m.changed)
			m.changed = make(chan struct{})
			m.mu.Unlock()
			return
		}
	}
}

func (m *Machine) add(text string) {
	m.mu.Lock()
	m.lines = append(m.lines, Line{Text: text, At: time.Now()})
	close(m.changed)
	m.changed = make(chan struct{})
	m.mu.Unlock()
}

// Lines returns the console so far.
func (m *Machine) Lines() []Line {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Line(nil), m.lines...)
}

// Cursor is a position in the console for successive waits.
type Cursor int

// WaitFor returns the first console line at or after *from that matches
// re, and moves *from past it. It fails when ctx ends or the machine
// stops first; the error quotes QEMU's own messages and the console's
// last lines.
func (m *Machine) WaitFor(ctx context.Context, from *Cursor, re *regexp.Regexp) (Line, error) {
	var start Cursor
	if from != nil {
		start = *from
	}
	for {
		m.mu.Lock()
		for i := int(start); i < len(m.lines); i++ {
			if re.MatchString(m.lines[i].Text) {
				l := m.lines[i]
				m.mu.Unlock()
				if from != nil {
					*from = Cursor(i + 1)
				}
				return l, nil
			}
		}
		start = Cursor(len(m.lines))
		ch, eof := m.changed, m.eof
		m.mu.Unlock()
		if eof {
			// The console ends when QEMU exits; its status and
			// stderr follow at once.
			select {
			case <-m.done:
				return Line{}, m.stopped(fmt.Sprintf("before a console line matched %q", re))
			case <-ctx.Done():
				return Line{}, fmt.Errorf("qemu: console closed and %w waiting for the exit%s", ctx.Err(), m.report())
			}
		}
		select {
		case <-ctx.Done():
			return Line{}, fmt.Errorf("qemu: %w waiting for %q%s", ctx.Err(), re, m.report())
		case <-ch:
		}
	}
}

// StoppedError says the emulator exited while a caller waited for
// something else. QEMU reports a bad option, a missing firmware file or
// a device that failed only on its stderr, never on the guest's
// console, so the error carries both.
type StoppedError struct {
	// While is what the caller waited for ("before a console line
	// matched …"); empty for Wait.
	While string
	// Err is the exit status (cmd.Wait's error); nil after a clean
	// power-off.
	Err error
	// Stderr is the end of QEMU's stderr.
	Stderr string
	// Last are the console's last lines.
	Last []Line
}

func (e *StoppedError) Error() string {
	var b strings.Builder
	b.WriteString("qemu: machine stopped")
	if e.While != "" {
		b.WriteString(" " + e.While)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, " (%v)", e.Err)
	} else {
		b.WriteString(" (exit status 0)")
	}
	b.WriteString(report(e.Stderr, e.Last))
	return b.String()
}

func (e *StoppedError) Unwrap() error { return e.Err }

// stopped returns the StoppedError once the emulator has exited.
func (m *Machine) stopped(while string) error {
	<-m.done
	return &StoppedError{While: while, Err: m.waitErr, Stderr: m.stderr.String(), Last: m.tail(15)}
}

// report is QEMU's stderr so far and the console's last lines, for an
// error message.
func (m *Machine) report() string { return report(m.stderr.String(), m.tail(15)) }

func report(stderr string, last []Line) string {
	var b strings.Builder
	if s := strings.TrimSpace(stderr); s != "" {
		b.WriteString("; QEMU said:\n")
		for _, l := range strings.Split(s, "\n") {
			b.WriteString("  " + l + "\n")
		}
	} else {
		b.WriteString("; nothing from QEMU on stderr\n")
	}
	if len(last) == 0 {
		b.WriteString("no console output")
		return b.String()
	}
	b.WriteString("last console lines:")
	for _, l := range last {
		b.WriteString("\n  | " + l.Text)
	}
	return b.String()
}

func (m *Machine) tail(n int) []Line {
	ls := m.Lines()
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return ls
}

// stderrTail keeps the last stderrKeep bytes QEMU wrote to stderr; it
// is written by exec's copying goroutine and read by error paths.
type stderrTail struct {
	mu sync.Mutex
	b  []byte
}

const stderrKeep = 8 << 10

func (s *stderrTail) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	if len(s.b) > stderrKeep {
		s.b = append([]byte(nil), s.b[len(s.b)-stderrKeep:]...)
	}
	return len(p), nil
}

func (s *stderrTail) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}

// Type sends text to the serial console (Config.Input must be set).
func (m *Machine) Type(s string) error {
	if m.stdin == nil {
		return fmt.Errorf("qemu: console input not connected (Config.Input)")
	}
	_, err := io.WriteString(m.stdin, s)
	return err
}

// Wait waits for the emulator to exit (the guest powered off, with
// -no-reboot also a reboot or panic) or ctx to end. A non-zero exit is
// a StoppedError.
func (m *Machine) Wait(ctx context.Context) error {
	select {
	case <-m.done:
		if m.waitErr != nil {
			return m.stopped("")
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("qemu: %w waiting for the machine to stop%s", ctx.Err(), m.report())
	}
}

// Close kills the emulator if it still runs and removes its files.
func (m *Machine) Close() {
	select {
	case <-m.done:
	default:
		m.cmd.Process.Kill()
		<-m.done
	}
	if m.tmpDir != "" {
		os.RemoveAll(m.tmpDir)
	}
}

// haltedRE is the kernel's last line when it stops the CPUs without
// powering off (printed at emergency level, so also with "quiet").
var haltedRE = regexp.MustCompile(`reboot: (System halted|Power down)`)

// WaitOff waits until the guest has shut down: QEMU exits (virt, or a
// guest that can power off), or the kernel prints that it halted — a
// raspi3b without bcm2835_wdt (see Config.Watchdog) has no power-off, so
// its CPUs stop and QEMU would run on; WaitOff then ends the emulator.
func (m *Machine) WaitOff(ctx context.Context) error {
	var from Cursor
	if _, err := m.WaitFor(ctx, &from, haltedRE); err != nil {
		select {
		case <-m.done: // exited without the line: powered off
			return m.Wait(ctx)
		default:
			return err
		}
	}
	m.cmd.Process.Kill()
	<-m.done
	return nil
}
