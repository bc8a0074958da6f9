package testkit

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"regexp"
	"testing"
)

// ncListeningRE finds the port in OpenBSD nc's -v line.
var ncListeningRE = regexp.MustCompile(`^Listening on \S+ (\d+)$`)

// ListenNC starts `nc -v -d -l 127.0.0.1 0`, the old-style receiver (and
// the baseline of the benchmarks), writing what it receives to out. Port
// 0: nc takes a free port and names it ("Listening on localhost 45661"),
// so no port is picked in advance for another test to take. It returns
// the running command and the port; it skips tb when nc is missing.
func ListenNC(tb testing.TB, out io.Writer) (*exec.Cmd, string) {
	tb.Helper()
	nc, err := exec.LookPath("nc")
	if err != nil {
		tb.Skip("nc (netcat-openbsd) not installed (scripts/deps.sh installs it)")
	}
	return listenLikeNC(tb, exec.Command(nc, "-v", "-d", "-l", "127.0.0.1", "0"), out)
}

// listenLikeNC starts cmd, a listener that names its port on stderr in
// nc -v's words, writing what it receives to out.
func listenLikeNC(tb testing.TB, cmd *exec.Cmd, out io.Writer) (*exec.Cmd, string) {
	tb.Helper()
	cmd.Stdout = out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	var port string
	for port == "" && sc.Scan() {
		if m := ncListeningRE.FindStringSubmatch(sc.Text()); m != nil {
			port = m[1]
		}
	}
	if port == "" {
		cmd.Process.Kill()
		cmd.Wait()
		tb.Fatalf("%s did not say which port it listens on: %v", cmd.Path, sc.Err())
	}
	go func() {
		for sc.Scan() {
		}
	}()
	return cmd, port
}

// ListenNCFile is ListenNC writing to a new file at path, the baseline
// `nc -l > file`. done closes and removes the file: a benchmark's runs
// each receive a whole clip, which should not pile up in tmpfs.
func ListenNCFile(tb testing.TB, path string) (lis *exec.Cmd, port string, out *os.File, done func()) {
	tb.Helper()
	out, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	lis, port = ListenNC(tb, out)
	return lis, port, out, func() {
		out.Close()
		os.Remove(path)
	}
}

// ListenFileLikeNC is ListenNCFile with another listener in nc's place:
// bin with args, which must name its port on stderr as nc -v does
// ("Listening on HOST PORT"); internal/benchclip/gocopy -l is one.
func ListenFileLikeNC(tb testing.TB, path, bin string, args ...string) (lis *exec.Cmd, port string, done func()) {
	tb.Helper()
	out, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	lis, port = listenLikeNC(tb, exec.Command(bin, args...), out)
	return lis, port, func() {
		out.Close()
		os.Remove(path)
	}
}
