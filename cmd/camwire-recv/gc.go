package main

import (
	"os"
	"runtime/debug"
)

// defaultGOGC is the receiver's garbage collector target unless $GOGC
// says otherwise: the heap may grow 25% beyond what is live, not Go's
// usual 100%. Nearly all of the receiver's heap is frame payloads in
// pooled buffers (internal/bufpool) waiting to be durable: pointer-free
// memory the collector marks without scanning, and the pool keeps the
// allocation rate low, so collecting four times as often costs little
// CPU and saves most of the heap a 100% target would let grow, about
// 1 MiB per 16 Mbit/s camera (BenchmarkCameras). $GOMEMLIMIT works as
// usual on top.
const defaultGOGC = 25

// setGCDefault applies defaultGOGC when $GOGC is not set.
func setGCDefault() {
	if _, ok := os.LookupEnv("GOGC"); !ok {
		debug.SetGCPercent(defaultGOGC)
	}
}
