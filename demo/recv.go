package demo

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/camwire/camwire/wire"
)

// receiver is the demo's camwire-recv process.
type receiver struct {
	addr   string          // where it listens, from its first log line
	out    *lockedWriter   // the demo's output, shared with the camera's console
	before map[string]bool // recordings already in the folder
	stop   func()          // SIGTERM, then wait for it to finish
}

// listenRE finds the address in camwire-recv's "listening" log line.
var listenRE = regexp.MustCompile(`msg=listening addr=(\S+)`)

// listenRecv starts camwire-recv on camwire's usual port on the loopback,
// or, when that is taken, on a free one the kernel picks. The address is
// read from the receiver's own log, so two demos (or tests) at once never
// race for a port: the image is built for the port the receiver holds.
func listenRecv(bin, dir string, out io.Writer) (*receiver, error) {
	r, err := startRecv(bin, "127.0.0.1:"+strconv.Itoa(wire.DefaultPort), dir, out)
	if err == nil {
		return r, nil
	}
	fmt.Fprintf(out, "demo | %v; camwire-recv on a free port instead\n", err)
	return startRecv(bin, "127.0.0.1:0", dir, out)
}

// startRecv runs camwire-recv -listen listen -dir dir, copies its log to
// out with a "recv | " prefix, and returns once it listens.
func startRecv(bin, listen, dir string, w io.Writer) (*receiver, error) {
	if w == nil {
		w = io.Discard
	}
	out := &lockedWriter{w: w}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	before := videoFiles(dir)
	recv := exec.Command(bin, "-listen", listen, "-dir", dir, "-diagnose-after", "0")
	// Its own process group, like the emulator's: a Ctrl-C in the
	// terminal reaches only the demo, which then stops both in order.
	recv.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	rout, err := recv.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := recv.Start(); err != nil {
		return nil, fmt.Errorf("camwire-recv: %w", err)
	}
	listening := make(chan string, 1)
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		var once sync.Once
		sc := bufio.NewScanner(rout)
		for sc.Scan() {
			fmt.Fprintf(out, "recv | %s\n", sc.Text())
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				once.Do(func() { listening <- m[1] })
			}
		}
	}()
	stop := sync.OnceFunc(func() {
		recv.Process.Signal(syscall.SIGTERM) // fsyncs and finishes what arrived
		<-recvDone
		recv.Wait()
	})
	select {
	case addr := <-listening:
		return &receiver{addr: addr, out: out, before: before, stop: stop}, nil
	case <-recvDone:
		recv.Wait()
		return nil, fmt.Errorf("camwire-recv -listen %s exited before it listened (see its lines above)", listen)
	case <-time.After(10 * time.Second):
		stop()
		return nil, errors.New("camwire-recv did not start listening within 10 s")
	}
}
