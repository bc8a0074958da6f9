//go:build pprof

package main

// Profiling of the built binary, for benchmarks that run it as a child
// (BenchmarkPaced, BenchmarkSenderCPU): built only with -tags pprof
// (GOFLAGS=-tags=pprof reaches testkit.Build through the environment), it
// serves net/http/pprof on $CAMWIRE_PPROF (e.g. 127.0.0.1:6061) for
// `go tool pprof` and curl:
//
//	GOFLAGS=-tags=pprof CAMWIRE_PPROF=127.0.0.1:6061 go test -run '^$' -bench 'BenchmarkPaced' ./cmd/camwire-init &
//	go tool pprof 'http://127.0.0.1:6061/debug/pprof/profile?seconds=20'
//
// Release builds carry none of it.

import (
	"net/http"
	_ "net/http/pprof"
	"os"
	"testing"
)

func init() {
	// The package's own test binary is built with the tag too; only the
	// camwire-init it starts serves.
	if addr := os.Getenv("CAMWIRE_PPROF"); addr != "" && !testing.Testing() {
		go http.ListenAndServe(addr, nil)
	}
}
