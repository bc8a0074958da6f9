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
	var ws []io.Writer
	for _, n := range names {
		f, err := os.OpenFile(filepath.Join(devDir, n), os.O_WRONLY|unix.O_NOCTTY, 0)
		if err != nil {
			continue
		}
		ws = append(ws, f)
	}
	if len(ws) == 0 {
		return fallback
	}
	return &multiConsole{ws: ws}
}

// multiConsole writes each line to every console and never fails: a
// console that errors (an unplugged USB serial adapter) must not stop the
// others or the caller. It serialises writes so lines from the supervisor
// and from the recorder's output do not interleave mid-line.
type multiConsole struct {
	mu sync.Mutex
	ws []io.Writer
}

func (m *multiConsole) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, w := range m.ws {
		w.Write(p)
	}
	return len(p), nil
}
