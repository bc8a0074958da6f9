// Package testkit is what the tests that run camwire's programs share:
// each binary built once per test binary, a program run as a child whose
// log the test waits on, and camwire-recv started on a free loopback port
// whose address is read from its log (no port is picked in advance, so
// concurrent test runs never race for one).
package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sync"
	"testing"
)

// Module is camwire's module path, for Build.
const Module = "github.com/camwire/camwire"

// Recv is camwire-recv's package.
const Recv = Module + "/cmd/camwire-recv"

var builds struct {
	mu   sync.Mutex
	dir  string
	done map[string]*build
}

type build struct {
	once sync.Once
	path string
	err  error
}

// Main runs the tests and then removes the binaries Build made. Call it
// from TestMain when the tests call Build.
func Main(m *testing.M) {
	code := m.Run()
	builds.mu.Lock()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
	}
	builds.mu.Unlock()
	os.Exit(code)
}

// Build returns the path of command pkg (an import path such as Recv),
// built statically (CGO_ENABLED=0) the first time a test of this test
// binary asks for it. A failed build fails every test that asks, with go
// build's own output.
func Build(tb testing.TB, pkg string) string {
	tb.Helper()
	builds.mu.Lock()
	if builds.done == nil {
		builds.done = map[string]*build{}
	}
	b := builds.done[pkg]
	if b == nil {
		b = &build{}
		builds.done[pkg] = b
	}
	builds.mu.Unlock()
	b.once.Do(func() { b.path, b.err = buildOnce(pkg) })
	if b.err != nil {
		tb.Fatal(b.err)
	}
	return b.path
}

func buildOnce(pkg string) (string, error) {
	builds.mu.Lock()
	if builds.dir == "" {
		d, err := os.MkdirTemp("", "camwire-testkit-")
		if err != nil {
			builds.mu.Unlock()
			return "", err
		}
		builds.dir = d
	}
	dir := builds.dir
	builds.mu.Unlock()
	bin := filepath.Join(dir, path.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin, nil
}
