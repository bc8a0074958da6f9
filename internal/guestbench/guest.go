package guestbench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/camwire/camwire/camconsole"
)

// Guest carries out the host's commands. The zero value runs Recorder on
// Clip; the fields are seams for tests on a laptop.
type Guest struct {
	Recorder, Clip string
	// Logf gets a line per command (the guest's serial console).
	Logf func(format string, args ...any)

	rec     *exec.Cmd
	recOut  *bytes.Buffer
	recFrom time.Time
}

func (g *Guest) logf(format string, args ...any) {
	if g.Logf != nil {
		g.Logf(format, args...)
	}
}

func (g *Guest) recorder() string { return or(g.Recorder, Recorder) }
func (g *Guest) clip() string     { return or(g.Clip, Clip) }

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}

// Serve answers commands from c until "quit" (nil) or the connection
// fails. A recorder still running then is killed.
func (g *Guest) Serve(c io.ReadWriter) error {
	defer g.kill()
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("guestbench: reading a command: %w", err)
		}
		line = strings.TrimSpace(line)
		ans, err := g.do(line)
		if errors.Is(err, errQuit) {
			_, err := io.WriteString(c, "bye\n")
			return err
		}
		if err != nil {
			g.logf("guestbench: %s: %v", line, err)
			// One line: the host's reader and the console stay readable.
			ans = "error " + strings.Join(strings.Fields(err.Error()), " ")
		} else {
			g.logf("guestbench: %s: %s", line, ans)
		}
		if _, err := io.WriteString(c, ans+"\n"); err != nil {
			return err
		}
	}
}

func (g *Guest) do(line string) (string, error) {
	cmd, arg, _ := strings.Cut(line, " ")
	switch cmd {
	case "camwire":
		return "started", g.startCamwire(arg)
	case "stop":
		d, err := g.stopCamwire()
		return FormatCPU(d), err
	case "nc":
		d, err := g.nc(arg)
		return FormatCPU(d), err
	case "quit":
		return "", errQuit
	}
	return "", fmt.Errorf("unknown command %q (want camwire, stop, nc or quit)", line)
}

// startCamwire starts the recorder as the host benchmark on a laptop
// does (cmd/camwire-init BenchmarkSenderCPU): the exec source runs cat
// once and then idles, so every byte of the clip goes through splitter,
// segmenter and sender exactly once.
func (g *Guest) startCamwire(addr string) error {
	if g.rec != nil {
		return errors.New("camwire-init is already running")
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return err
	}
	cmd := exec.Command(g.recorder(), "-source", "exec",
		"-exec", fmt.Sprintf("sh -c 'cat %s && exec sleep 3600'", g.clip()),
		"-receiver", addr, "-segment", "3s", "-name", "guestbench")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		return err
	}
	g.rec, g.recOut, g.recFrom = cmd, &out, time.Now()
	return nil
}

// stopCamwire ends the recorder the clean way (SIGTERM: it drains its
// sender and prints its summary), checks that it lost nothing, and
// returns its CPU time.
func (g *Guest) stopCamwire() (time.Duration, error) {
	if g.rec == nil {
		return 0, errors.New("no camwire-init is running")
	}
	cmd, out, from := g.rec, g.recOut, g.recFrom
	g.rec, g.recOut = nil, nil
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		return 0, fmt.Errorf("camwire-init: %v: %s", err, tail(out.String()))
	}
	sum, err := camconsole.FindSummary(out.String())
	if err != nil {
		return 0, fmt.Errorf("camwire-init: %v: %s", err, tail(out.String()))
	}
	if sum.Dropped != 0 || sum.Acked != sum.Captured {
		return 0, fmt.Errorf("camwire-init lost frames: %s", sum.Format())
	}
	g.logf("guestbench: camwire-init ran %v: user %v sys %v, %s", time.Since(from).Round(time.Millisecond),
		cmd.ProcessState.UserTime(), cmd.ProcessState.SystemTime(), sum.Format())
	return cpu(cmd.ProcessState), nil
}

// nc is the old recorder's sending half; nc -N closes its sending side
// at the end of the input, so it exits once the host's sink has it all.
func (g *Guest) nc(addr string) (time.Duration, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	cmd := exec.Command("sh", "-c", fmt.Sprintf("cat %s | nc -N %s %s", g.clip(), host, port))
	from := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("cat | nc: %v: %s", err, tail(string(out)))
	}
	g.logf("guestbench: cat | nc ran %v: user %v sys %v", time.Since(from).Round(time.Millisecond),
		cmd.ProcessState.UserTime(), cmd.ProcessState.SystemTime())
	return cpu(cmd.ProcessState), nil
}

// cpu is user + system time from wait4's rusage, which holds the
// children the process waited for (sh, cat, sleep, nc).
func cpu(ps *os.ProcessState) time.Duration { return ps.UserTime() + ps.SystemTime() }

// kill ends a recorder left running by a lost connection.
func (g *Guest) kill() {
	if g.rec != nil {
		g.rec.Process.Kill()
		g.rec.Wait()
		g.rec = nil
	}
}

// tail is the end of a process's output, for an error line.
func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 600 {
		s = "…" + s[len(s)-600:]
	}
	return s
}
