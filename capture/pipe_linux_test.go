package capture

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// TestGrowPipe: the camera command's stdout pipe is grown to 1 MiB, so a
// command that writes ahead hands over up to that much per read.
func TestGrowPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if err := growPipe(r); err != nil {
		t.Skipf("kernel refuses a %d-byte pipe: %v", pipeSize, err)
	}
	got, err := unix.FcntlInt(r.Fd(), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got != pipeSize {
		t.Errorf("pipe size = %d, want %d", got, pipeSize)
	}
}
