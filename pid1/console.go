package pid1

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

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
func OpenConsoles(devDir string, names []string, fallback io.Writer) io.Writer {
	m := &multiConsole{}
	for _, n := range names {
		path := filepath.Join(devDir, n)
		f, err := openConsole(path)
		if err != nil {
			continue
		}
		m.cs = append(m.cs, &console{path: path, f: f})
	}
	if len(m.cs) == 0 {
		return fallback
	}
	return m
}

func openConsole(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|unix.O_NOCTTY|os.O_APPEND, 0)
}

// multiConsole writes each line to every console and never fails: a
// console that errors (an unplugged USB serial adapter) must not stop the
// others or the caller. It serialises writes so lines from the supervisor
// and from the recorder's output do not interleave mid-line.
type multiConsole struct {
	mu sync.Mutex
	cs []*console
}

type console struct {
	path string
	f    *os.File
}

func (m *multiConsole) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.cs {
		if _, err := c.f.Write(p); err != nil {
			// When a debug shell that had this terminal as its
			// controlling terminal exits, the kernel hangs the
			// terminal up: every file open on it fails with EIO from
			// then on. A fresh open works again, so reopen and retry
			// once instead of going silent for the rest of the boot.
			if f, oerr := openConsole(c.path); oerr == nil {
				c.f.Close()
				c.f = f
				c.f.Write(p)
			}
		}
	}
	return len(p), nil
}
