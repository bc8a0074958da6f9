package peers

import (
	"fmt"
	"net/http"
	"os/exec"
	"testing"
	"time"

	"github.com/camwire/camwire/internal/testkit"
)

// S3 is a real SeaweedFS (weed mini) serving S3 on loopback, with one
// admin identity whose keys are AccessKey and SecretKey.
type S3 struct {
	Endpoint             string // http://127.0.0.1:PORT
	AccessKey, SecretKey string
	*testkit.Proc
}

// weedPorts is the HTTP port of each weed mini service whose gRPC port
// is HTTP+10000 (testkit.Ports probes both).
var weedPorts = []string{"master.port", "volume.port", "filer.port", "s3.port", "admin.port"}

// StartS3 runs SeaweedFS's single-process server with data in a
// temporary directory, or skips tb when it is not built. It stops with
// the test (SIGTERM).
func StartS3(tb testing.TB) *S3 {
	tb.Helper()
	bin := Path(tb, "weed")
	s := &S3{AccessKey: "camwiretest", SecretKey: "camwire-test-secret-key"}
	args := []string{"mini", "-dir=" + tb.TempDir(), "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
		"-master.telemetry=false", "-webdav=false", "-admin.ui=false", "-admin.port.legacy=0",
		"-s3.port.iceberg=0", "-s3.port.lance=0"}
	var s3port int
	for _, name := range weedPorts {
		p := testkit.Ports(tb, "tcp", false, 0, 10000)
		if name == "s3.port" {
			s3port = p
		}
		args = append(args, fmt.Sprintf("-%s=%d", name, p))
	}
	s.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", s3port)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(cmd.Environ(), "AWS_ACCESS_KEY_ID="+s.AccessKey, "AWS_SECRET_ACCESS_KEY="+s.SecretKey)
	s.Proc = testkit.StartCmd(tb, "SeaweedFS", cmd)
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
		case <-s.Exited():
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
