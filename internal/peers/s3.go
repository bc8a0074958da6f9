package peers

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// S3 is a real SeaweedFS (weed mini) serving S3 on loopback, with one
// admin identity whose keys are AccessKey and SecretKey.
type S3 struct {
	Endpoint             string // http://127.0.0.1:PORT
	AccessKey, SecretKey string
	cmd                  *exec.Cmd
	mu                   sync.Mutex
	log                  strings.Builder
	exit                 chan struct{}
}

// weedPorts is the HTTP port of each weed mini service whose gRPC port
// is HTTP+10000. They are picked below Linux's ephemeral range (32768+)
// so no test's :0 listener takes one between the check and weed's bind.
var weedPorts = []string{"master.port", "volume.port", "filer.port", "s3.port", "admin.port"}

// freePair is a port p in [10000, 22000) with p and p+10000 free on
// loopback.
func freePair(tb testing.TB) int {
	tb.Helper()
	for range 200 {
		p := 10000 + rand.IntN(12000)
		a, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		b, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+10000))
		a.Close()
		if err != nil {
			continue
		}
		b.Close()
		return p
	}
	tb.Fatal("no free port pair for SeaweedFS")
	return 0
}

// StartS3 runs SeaweedFS's single-process server with data in a
// temporary directory, or skips tb when it is not built. It stops with
// the test.
func StartS3(tb testing.TB) *S3 {
	tb.Helper()
	bin := Path(tb, "weed")
	s := &S3{AccessKey: "camwiretest", SecretKey: "camwire-test-secret-key", exit: make(chan struct{})}
	args := []string{"mini", "-dir=" + tb.TempDir(), "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-master.telemetry=false", "-webdav=false", "-admin.ui=false", "-admin.port.legacy=0",
		"-s3.port.iceberg=0", "-s3.port.lance=0"}
	var s3port int
	for _, name := range weedPorts {
		p := freePair(tb)
		if name == "s3.port" {
			s3port = p
		}
		args = append(args, fmt.Sprintf("-%s=%d", name, p))
	}
	s.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", s3port)
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = append(s.cmd.Environ(), "AWS_ACCESS_KEY_ID="+s.AccessKey, "AWS_SECRET_ACCESS_KEY="+s.SecretKey)
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	s.cmd.Stderr = s.cmd.Stdout
	if err := s.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.mu.Lock()
			s.log.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
		}
		s.cmd.Wait()
		close(s.exit)
	}()
	tb.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exit:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-s.exit
		}
		if tb.Failed() {
			tb.Logf("SeaweedFS log (tail):\n%s", s.Logs())
		}
	})
	// weed has no ready line of its own that covers S3 and the volume
	// server; its S3 port answers once the gateway is up.
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get(s.Endpoint + "/")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case <-s.exit:
			tb.Fatalf("SeaweedFS exited at start: %s", s.Logs())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("SeaweedFS S3 on %s not up within 90 s: %v\n%s", s.Endpoint, err, s.Logs())
		}
		time.Sleep(200 * time.Millisecond) // polls: weed announces no readiness event
	}
	return s
}

// Logs is the tail of weed's output.
func (s *S3) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.log.String()
	if len(l) > 4000 {
		l = "…" + l[len(l)-4000:]
	}
	return l
}
