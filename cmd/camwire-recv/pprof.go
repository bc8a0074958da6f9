//go:build pprof

package main

// Profiling of the built binary, for benchmarks that run it as a child:
// built only with -tags pprof (GOFLAGS=-tags=pprof reaches testkit.Build
// through the environment), it serves net/http/pprof on $CAMWIRE_PPROF
// (e.g. 127.0.0.1:6060) for `go tool pprof` and curl:
//
//	GOFLAGS=-tags=pprof CAMWIRE_PPROF=127.0.0.1:6060 go test -run '^$' -bench 'BenchmarkCameras/128' ./cmd/camwire-recv &
//	go tool pprof http://127.0.0.1:6060/debug/pprof/heap
//
// /debug/vars (expvar) adds the payload pool's bytes handed out and idle.
// Release builds carry none of it.

import (
	"expvar"
	"net/http"
	_ "net/http/pprof"
	"os"
	"testing"

	"github.com/camwire/camwire/internal/bufpool"
)

func init() {
	// The package's own test binary is built with the tag too; only the
	// receiver it starts serves.
	if addr := os.Getenv("CAMWIRE_PPROF"); addr != "" && !testing.Testing() {
		expvar.Publish("payload_pool", expvar.Func(func() any {
			return map[string]int64{"in_use": bufpool.Payloads.InUse(), "idle": bufpool.Payloads.Idle()}
		}))
		go http.ListenAndServe(addr, nil)
	}
}
