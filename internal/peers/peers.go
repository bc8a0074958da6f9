// Package peers finds the servers the scale-out tests talk to (MediaMTX,
// SeaweedFS), built once by scripts/peers.sh into ~/.cache/camwire. A test
// run by hand before they are built skips and says how to build them;
// make test builds them first.
package peers

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Path returns the binary of peer ("mediamtx" or "weed"), or skips tb
// with the reason it is missing.
func Path(tb testing.TB, peer string) string {
	tb.Helper()
	_, here, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(here), "..", "..", "scripts", "peers.sh")
	var stderr bytes.Buffer
	cmd := exec.Command("bash", script, "-check", peer)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Skipf("%s: %s", peer, strings.TrimSpace(stderr.String()+" "+err.Error()))
	}
	return strings.TrimSpace(string(out))
}
