package main

import (
	"os"
	"testing"
)

// benchDir is where benchmark recordings go: tmpfs when there is one, so
// the numbers compare the programs, not the shared disk.
func benchDir(b *testing.B) string {
	b.Helper()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "camwire-bench")
		if err == nil {
			b.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return b.TempDir()
}
