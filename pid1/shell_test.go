package pid1

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

type shellResult struct {
	Starts  []string // Shell's "shell: …" log lines
	TTY     string   // what `tty` printed in the first shell
	TTYNr   string   // the first shell's controlling terminal (stat field 7)
	Again   bool     // the second shell answered
	Zombies int      // children left as zombies after the first shell exited
	Err     string
}

// shellHelper runs a Shell on a pseudo-terminal the way PID 1 runs the
// debug shell: reaped by a Supervisor (with a sleeping "recorder"), in a
// process that is a child subreaper as PID 1 would be.
func shellHelper() int {
	var res shellResult
	err := func() error {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("prctl: %v", err)
		}
		ptm, pts, err := openPTY()
		if err != nil {
			return err
		}
		defer ptm.Close()
		// Keep the terminal open here too: when the first shell exits
		// the kernel hangs its terminal up, and a master with no open
		// slave reads EIO until the next shell opens it.
		hold, err := os.OpenFile(pts, os.O_RDWR|unix.O_NOCTTY, 0)
		if err != nil {
			return err
		}
		defer hold.Close()
		lines := make(chan string, 100)
		go func() {
			sc := bufio.NewScanner(ptm)
			for sc.Scan() {
				lines <- strings.TrimRight(sc.Text(), "\r")
			}
		}()
		var mu sync.Mutex
		started := make(chan struct{}, 10)
		sh := &Shell{Path: "/bin/sh", TTY: pts, Env: []string{"PATH=/usr/bin:/bin", "PS1=$ "}, RestartDelay: 10 * time.Millisecond,
			Logf: func(f string, a ...any) {
				mu.Lock()
				res.Starts = append(res.Starts, fmt.Sprintf(f, a...))
				mu.Unlock()
				started <- struct{}{}
			}}
		sup := &Supervisor{Path: "/bin/sh", Args: []string{"-c", "sleep 30"}, RestartDelay: time.Hour, StopTimeout: 100 * time.Millisecond,
			OnReap: func(pid int, _ unix.WaitStatus) { sh.Reaped(pid) }, Ready: make(chan struct{})}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		supDone := make(chan struct{})
		go func() { sup.Run(ctx); close(supDone) }()
		defer func() { cancel(); <-supDone }()
		<-sup.Ready
		go sh.Run(ctx)

		waitLine := func(re *regexp.Regexp) (string, error) {
			for {
				select {
				case l := <-lines:
					if m := re.FindStringSubmatch(l); m != nil {
						return m[len(m)-1], nil
					}
				case <-ctx.Done():
					return "", fmt.Errorf("no line matching %q", re)
				}
			}
		}
		<-started
		// The echoed input never matches the answer: "$((1+1))" vs "2".
		fmt.Fprintf(ptm, "echo one-$((1+1)); tty; read -r a b c d e f g rest < /proc/$$/stat; echo ttynr=$((g+0))\n")
		if _, err := waitLine(regexp.MustCompile(`^(\$ )?one-2$`)); err != nil {
			return err
		}
		if res.TTY, err = waitLine(regexp.MustCompile(`^(?:\$ )?(/dev/\S+)$`)); err != nil {
			return err
		}
		if res.TTYNr, err = waitLine(regexp.MustCompile(`^(?:\$ )?ttynr=(\d+)$`)); err != nil {
			return err
		}
		fmt.Fprintf(ptm, "exit\n")
		select {
		case <-started:
		case <-ctx.Done():
			return fmt.Errorf("no second shell after exit")
		}
		fmt.Fprintf(ptm, "echo tw''o\n")
		if _, err := waitLine(regexp.MustCompile(`^(\$ )?two$`)); err != nil {
			return err
		}
		res.Again = true
		res.Zombies = zombieChildren()
		return nil
	}()
	if err != nil {
		res.Err = err.Error()
	}
	json.NewEncoder(os.Stdout).Encode(res)
	return 0
}

// openPTY returns a pseudo-terminal's master and the path of its slave.
func openPTY() (*os.File, string, error) {
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, "", err
	}
	if err := unix.IoctlSetPointerInt(int(ptm.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		ptm.Close()
		return nil, "", fmt.Errorf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(ptm.Fd()), unix.TIOCGPTN)
	if err != nil {
		ptm.Close()
		return nil, "", fmt.Errorf("ptsname: %v", err)
	}
	return ptm, "/dev/pts/" + strconv.Itoa(n), nil
}

// zombieChildren counts this process's children in state Z.
func zombieChildren() int {
	me := strconv.Itoa(os.Getpid())
	n := 0
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces, so split after ')'.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[0] == "Z" && f[1] == me {
			n++
		}
	}
	return n
}

// TestShellOnTerminal: the debug shell gets the terminal as stdin,
// stdout and controlling terminal, and after `exit` it is reaped by the
// supervisor's reaper and a new one answers.
func TestShellOnTerminal(t *testing.T) {
	if _, err := os.Stat("/dev/ptmx"); err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PID1_SHELL_HELPER=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v; output %s", err, out)
	}
	var res shellResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("helper output %q: %v", out, err)
	}
	if res.Err != "" {
		t.Fatalf("helper: %s (starts %q)", res.Err, res.Starts)
	}
	if !strings.HasPrefix(res.TTY, "/dev/pts/") {
		t.Errorf("tty in the shell = %q, want the pseudo-terminal", res.TTY)
	}
	if res.TTYNr == "0" || res.TTYNr == "" {
		t.Errorf("shell's controlling terminal (tty_nr) = %q, want the terminal's", res.TTYNr)
	}
	if len(res.Starts) != 2 || !res.Again {
		t.Errorf("shell starts %q, second answered %v: want two starts, the second answering", res.Starts, res.Again)
	}
	if res.Zombies != 0 {
		t.Errorf("%d zombies after the first shell exited, want 0", res.Zombies)
	}
}

func TestShellTTYs(t *testing.T) {
	for _, tc := range []struct {
		name     string
		consoles []string
		want     []string
	}{
		{"qemu serial", []string{"ttyAMA0"}, []string{"/dev/ttyAMA0"}},
		{"pi screen and serial", []string{"tty1", "ttyS0"}, []string{"/dev/tty1", "/dev/ttyS0"}},
		{"aliases only", []string{"console", "tty0"}, nil},
		{"odd name", []string{"../etc"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ShellTTYs("/dev", tc.consoles); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("ShellTTYs(%q) = %q, want %q", tc.consoles, got, tc.want)
			}
		})
	}
}

// TestShellCannotStartBacksOff: Run with a shell that cannot start waits
// longer each time and says so, instead of a line every second forever.
func TestShellCannotStartBacksOff(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var pauses []time.Duration
	var logs []string
	sh := &Shell{Path: "/nonexistent/gosh", TTY: os.DevNull,
		Logf: func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) },
		sleep: func(_ context.Context, d time.Duration) bool {
			pauses = append(pauses, d)
			if len(pauses) == 8 {
				cancel()
				return false
			}
			return true
		},
	}
	sh.Run(ctx) // returns when sleep cancels: Run runs on this goroutine
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second,
		16 * time.Second, 32 * time.Second, time.Minute, time.Minute}
	if fmt.Sprint(pauses) != fmt.Sprint(want) {
		t.Errorf("pauses = %v, want %v", pauses, want)
	}
	if len(logs) != 8 || !strings.Contains(logs[0], "/nonexistent/gosh") || !strings.HasSuffix(logs[7], "(trying again in 1m0s)") {
		t.Errorf("logs = %q, want 8 naming the shell, the last ending (trying again in 1m0s)", logs)
	}
}
