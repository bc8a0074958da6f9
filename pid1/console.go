package pid1

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ConsoleNames lists the terminals the boot log goes to. The kernel's
// /dev/console is only the last console= of the command line, so with
// "console=serial0,115200 console=tty1" a line written there shows on one
// screen only. /sys/class/tty/console/active names every active console
// ("tty1 ttyAMA0"); writing to each reaches both the serial cable that the
// QEMU tests read and the HDMI screen a user looks at. When the file is
// missing or empty the answer is just "console".
func ConsoleNames(sysDir string) []string {
	b, err := os.ReadFile(filepath.Join(sysDir, "class/tty/console/active"))
	if err != nil {
		return []string{"console"}
	}
	var names []string
	seen := map[string]bool{}
	for _, f := range strings.Fields(string(b)) {
		if !seen[f] {
			seen[f] = true
			names = append(names, f)
		}
	}
	// tty0 is "the current virtual terminal": normally tty1 at boot.
	if len(names) == 0 {
		return []string{"console"}
	}
	return names
}

// OpenConsoles opens devDir/<name> for each name and returns one writer
// that writes to all of them. Terminals that fail to open are left out;
// if none opens, the fallback (normally os.Stdout, which the kernel
// connected to /dev/console) is used so a log line is never lost for the
// want of a device node.
func OpenConsoles(devDir string, names []string, fallback io.Writer) *Consoles {
	m := &Consoles{}
	for _, n := range names {
		path := filepath.Join(devDir, n)
		f, err := openConsole(path)
		if err != nil {
			continue
		}
		m.add(&console{path: path, f: f, w: f})
	}
	if len(m.cs) == 0 {
		m.add(&console{path: "fallback", w: fallback})
	}
	return m
}

func openConsole(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|unix.O_NOCTTY|os.O_APPEND, 0)
}

// consoleQueue is how many writes wait for one slow console before
// further ones are dropped: a boot's worth of log lines (about 25 KB,
// two seconds of a 115200-baud serial line).
const consoleQueue = 256

// consoleStall is how long a write waits for room in a full console
// queue before that console counts as stopped.
const consoleStall = 250 * time.Millisecond

// Consoles writes each line to every console and never fails nor blocks
// for long: a console that errors (an unplugged USB serial adapter) must
// not stop the others or the caller, and neither may one that stops
// reading. Ctrl-S on a serial terminal stops its output; a blocking write
// would then hold PID 1's log, the LED's state lines and, through the
// supervisor's copy of its output, the recorder's stdout pipe, until the
// recorder itself stalls on a log line. So each console has its own
// writer goroutine with a bounded queue; when the queue stays full for
// consoleStall the line is dropped for that console only and counted,
// and so are the next ones at once, and once the queue has room again
// the console gets "camwire: console: N lines dropped" in the gap.
// Writes are serialised so lines from the supervisor and from the
// recorder's output do not interleave mid-line.
type Consoles struct {
	mu    sync.Mutex
	cs    []*console
	stall time.Duration // consoleStall unless a test set it
}

type console struct {
	path    string    // to reopen a hung-up terminal; "fallback" for the fallback writer
	q       chan item // to run
	dropped int       // lines dropped since the last note; under Consoles.mu

	// Used only by run.
	f *os.File // nil for the fallback writer
	w io.Writer
}

// item is one write for a console, or with done set a Flush marker.
type item struct {
	b    []byte
	done chan struct{}
}

func (m *Consoles) add(c *console) {
	c.q = make(chan item, consoleQueue)
	m.cs = append(m.cs, c)
	go c.run()
}

// Write queues p for every console. It returns at once, except for one
// wait of consoleStall for each console that has just stopped.
func (m *Consoles) Write(p []byte) (int, error) {
	b := bytes.Clone(p) // the caller may reuse p before the consoles write it
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.cs {
		c.queue(b, cmp.Or(m.stall, consoleStall))
	}
	return len(p), nil
}

func (c *console) queue(b []byte, stall time.Duration) {
	if c.dropped > 0 {
		// Stopped: drop at once until there is room for the note.
		select {
		case c.q <- item{b: fmt.Appendf(nil, "camwire: console: %d lines dropped\n", c.dropped)}:
			c.dropped = 0
		default:
			c.dropped++
			return
		}
		select {
		case c.q <- item{b: b}:
		default:
			c.dropped++
		}
		return
	}
	select {
	case c.q <- item{b: b}:
		return
	default:
	}
	// Full. A slow terminal (a 115200-baud line writes one in 10 ms)
	// makes room soon and so gets every line; a stopped one does not,
	// and costs the caller this one wait before its lines are dropped.
	t := time.NewTimer(stall)
	defer t.Stop()
	select {
	case c.q <- item{b: b}:
	case <-t.C:
		c.dropped++
	}
}

func (c *console) run() {
	for it := range c.q {
		if it.done != nil {
			close(it.done)
			continue
		}
		c.write(it.b)
	}
}

func (c *console) write(b []byte) {
	_, err := c.w.Write(b)
	if err == nil || c.f == nil {
		return
	}
	// When a debug shell that had this terminal as its controlling
	// terminal exits, the kernel hangs the terminal up: every file open
	// on it fails with EIO from then on. A fresh open works again, so
	// reopen and retry once instead of going silent for the rest of the
	// boot.
	if f, oerr := openConsole(c.path); oerr == nil {
		c.f.Close()
		c.f, c.w = f, f
		f.Write(b)
	}
}

// Flush waits until every console has written what was queued before
// the call, for at most d in all: before a power off or reboot, so the
// last lines ("camwire: power off") reach the screen and the serial
// cable. The error names the consoles still behind (a stopped terminal).
func (m *Consoles) Flush(d time.Duration) error {
	// A context, not a timer: its Done stays closed for every later wait.
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	m.mu.Lock()
	cs := slices.Clone(m.cs)
	m.mu.Unlock()
	marks := make([]chan struct{}, len(cs))
	var behind []string
	for i, c := range cs {
		marks[i] = make(chan struct{})
		select {
		case c.q <- item{done: marks[i]}:
		case <-ctx.Done():
			marks[i] = nil
			behind = append(behind, c.path)
		}
	}
	for i, mk := range marks {
		if mk == nil {
			continue
		}
		select {
		case <-mk:
		case <-ctx.Done():
			behind = append(behind, cs[i].path)
		}
	}
	if len(behind) > 0 {
		return fmt.Errorf("console %s: not written within %v", strings.Join(behind, ", "), d)
	}
	return nil
}
