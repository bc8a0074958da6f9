package capture

import (
	"bytes"
	"io"
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

// TestPipeReader: the exec source's pipe is read with raw read(2) calls;
// what the writer wrote arrives in order, a read waits for data that
// comes later, and the writer's close is io.EOF. A pipe made blocking
// (Fd does that) keeps os.File.Read: a raw blocking read would hold the
// processor.
func TestPipeReader(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	in := pipeReader(r)
	if _, ok := in.(*rawPipe); !ok {
		t.Fatalf("pipeReader(os.Pipe()) = %T, want rawPipe", in)
	}
	want := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 kB: more than one pipe's worth
	go func() {
		for i := 0; i < len(want); i += 50000 {
			w.Write(want[i:min(i+50000, len(want))])
		}
		w.Close()
	}()
	got, err := io.ReadAll(in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("read %d bytes that are not the %d written", len(got), len(want))
	}

	br, bw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer br.Close()
	defer bw.Close()
	br.Fd() // sets the descriptor blocking
	if in := pipeReader(br); in != io.Reader(br) {
		t.Errorf("pipeReader(blocking pipe) = %T, want the *os.File itself", in)
	}
}
