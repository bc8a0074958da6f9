package pid1

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestConsoleNames(t *testing.T) {
	for _, tc := range []struct {
		name   string
		active *string // nil: no file
		want   []string
	}{
		{name: "serial and screen", active: ptr("tty1 ttyAMA0\n"), want: []string{"tty1", "ttyAMA0"}},
		{name: "qemu serial only", active: ptr("ttyAMA0\n"), want: []string{"ttyAMA0"}},
		{name: "empty file", active: ptr("\n"), want: []string{"console"}},
		{name: "no sysfs", want: []string{"console"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sys := t.TempDir()
			if tc.active != nil {
				d := filepath.Join(sys, "class/tty/console")
				os.MkdirAll(d, 0o755)
				os.WriteFile(filepath.Join(d, "active"), []byte(*tc.active), 0o644)
			}
			if got := ConsoleNames(sys); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("ConsoleNames = %q, want %q", got, tc.want)
			}
		})
	}
}

func ptr(s string) *string { return &s }

func TestOpenConsoles(t *testing.T) {
	dev := t.TempDir()
	for _, n := range []string{"tty1", "ttyAMA0"} {
		os.WriteFile(filepath.Join(dev, n), nil, 0o644)
	}
	var fallback bytes.Buffer
	w := OpenConsoles(dev, []string{"tty1", "ttyAMA0", "ttyMISSING"}, &fallback)
	fmt.Fprintln(w, "camwire: init start")
	if err := w.Flush(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"tty1", "ttyAMA0"} {
		b, _ := os.ReadFile(filepath.Join(dev, n))
		if got, want := string(b), "camwire: init start\n"; got != want {
			t.Errorf("%s got %q, want %q", n, got, want)
		}
	}
	if fallback.Len() != 0 {
		t.Errorf("fallback got %q although consoles opened", fallback.String())
	}

	w = OpenConsoles(dev, []string{"nothing"}, &fallback)
	fmt.Fprintln(w, "x")
	if err := w.Flush(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if got, want := fallback.String(), "x\n"; got != want {
		t.Errorf("with no console, fallback got %q, want %q", got, want)
	}
}

// TestConsoleStopped: a console nobody reads (a FIFO, as a serial
// terminal after Ctrl-S) neither blocks the writer nor starves the other
// console; once it reads again it gets the lines its queue held, a note
// counting the dropped ones, and the lines after.
func TestConsoleStopped(t *testing.T) {
	dev := t.TempDir()
	fifo := filepath.Join(dev, "ttyS0")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no FIFOs here: %v", err)
	}
	// Our end: open for reading and writing so the console's open does
	// not wait for a reader, and read nothing yet.
	r, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	os.WriteFile(filepath.Join(dev, "tty1"), nil, 0o644)
	w := OpenConsoles(dev, []string{"ttyS0", "tty1"}, io.Discard)
	// Ample time for tty1's writer to make room on a loaded machine: it
	// must get every line, while ttyS0 costs this wait once.
	w.stall = 2 * time.Second

	// 2000 lines of 100 bytes: three times the pipe's 64 KiB plus the queue.
	const n = 2000
	line := func(i int) string { return fmt.Sprintf("line %04d %s\n", i, strings.Repeat("x", 89)) }
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		for i := range n {
			io.WriteString(w, line(i))
		}
	}()
	select {
	case <-wrote:
	case <-time.After(20 * time.Second):
		t.Fatal("writes blocked behind a console nobody reads")
	}
	if err := w.Flush(100 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "ttyS0") {
		t.Errorf("Flush with ttyS0 stopped = %v, want an error naming ttyS0", err)
	}
	b, _ := os.ReadFile(filepath.Join(dev, "tty1"))
	if got := strings.Count(string(b), "\n"); got != n {
		t.Errorf("tty1 got %d lines while ttyS0 was stopped, want %d", got, n)
	}

	// The terminal reads again (Ctrl-Q).
	lines := make(chan string, 2*n)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	if err := w.Flush(10 * time.Second); err != nil {
		t.Fatalf("Flush after the terminal reads again = %v", err)
	}
	io.WriteString(w, "after\n") // the note for the last lines dropped comes first
	if err := w.Flush(10 * time.Second); err != nil {
		t.Fatalf("Flush after the terminal reads again = %v", err)
	}
	// Every line arrives in order, or is counted by the note in its place.
	next, received, notes := 0, 0, 0
	note := regexp.MustCompile(`^camwire: console: (\d+) lines dropped$`)
	num := regexp.MustCompile(`^line (\d{4}) x+$`)
	timeout := time.After(20 * time.Second)
	for done := false; !done; {
		select {
		case l := <-lines:
			if l == "after" {
				done = true
			} else if m := note.FindStringSubmatch(l); m != nil {
				d, _ := strconv.Atoi(m[1])
				next += d
				notes++
			} else if m := num.FindStringSubmatch(l); m != nil {
				if i, _ := strconv.Atoi(m[1]); i != next {
					t.Fatalf("ttyS0: line %d where line %d (or a dropped note) belongs", i, next)
				}
				next++
				received++
			} else {
				t.Fatalf("ttyS0: unexpected line %q", l)
			}
		case <-timeout:
			t.Fatalf("ttyS0: no \"after\" line (had %d lines, %d notes)", received, notes)
		}
	}
	if next != n || notes == 0 {
		t.Errorf("ttyS0: %d lines received, %d counted as dropped in %d notes; want %d in all and a note", received, next-received, notes, n)
	}
}
