// Package imagetest gives tests the boot packages and a built init,
// skipping with a reason when they cannot be had — except as root, which
// is how `make test` runs: there a missing part is a failure, not a skip.
package imagetest

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/camwire/camwire/image"
	"github.com/camwire/camwire/image/bootpkg"
)

// Require skips (or, as root, fails) the test with why when why is not nil.
func Require(tb testing.TB, why error) {
	tb.Helper()
	if why == nil {
		return
	}
	if os.Geteuid() == 0 {
		tb.Fatalf("%v (running as root, as make test does: this must work)", why)
	}
	tb.Skipf("skipping: %v", why)
}

// Parts fetches the boot packages through the shared cache
// (CAMWIRE_CACHE, CAMWIRE_DEBS), once per test binary.
func Parts(tb testing.TB) bootpkg.Parts {
	tb.Helper()
	partsOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		parts, partsErr = bootpkg.FetcherFromEnv(func(f string, a ...any) { tb.Logf(f, a...) }).Fetch(ctx)
	})
	Require(tb, partsErr)
	return parts
}

var (
	partsOnce sync.Once
	parts     bootpkg.Parts
	partsErr  error
)

// Init builds a Go main package as a static linux/arm64 /init, once per
// package per test binary.
func Init(tb testing.TB, pkg string) []byte {
	tb.Helper()
	initMu.Lock()
	defer initMu.Unlock()
	if b, ok := inits[pkg]; ok {
		return b
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b, err := image.BuildInit(ctx, pkg)
	if err != nil {
		tb.Fatal(err)
	}
	inits[pkg] = b
	return b
}

var (
	initMu sync.Mutex
	inits  = map[string][]byte{}
)
