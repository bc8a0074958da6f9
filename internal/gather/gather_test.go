package gather

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestWrite: the file holds the buffers joined, for empty buffers, more
// buffers than one writev takes, and buffers bigger than a chunk.
func TestWrite(t *testing.T) {
	many := make([][]byte, 2*maxBufs+7)
	for i := range many {
		many[i] = bytes.Repeat([]byte{byte(i)}, i%5)
	}
	tests := []struct {
		name string
		bufs [][]byte
	}{
		{"none", nil},
		{"empty ones", [][]byte{{}, []byte("ab"), nil, []byte("c")}},
		{"more than IOV_MAX", many},
		{"big", [][]byte{bytes.Repeat([]byte{1}, 3<<20), []byte("tail"), bytes.Repeat([]byte{2}, 1<<20+1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "f")
			f, err := os.Create(p)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("head")
			want := append([]byte("head"), bytes.Join(tt.bufs, nil)...)
			n, err := Write(f, append([][]byte(nil), tt.bufs...))
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			if n != int64(len(want)-4) {
				t.Errorf("Write returned %d, want %d", n, len(want)-4)
			}
			got, _ := os.ReadFile(p)
			if !bytes.Equal(got, want) {
				t.Errorf("file has %d bytes, want %d (contents differ: %v)", len(got), len(want), len(got) == len(want))
			}
		})
	}
}

// TestWriteError names the file, as os.File's errors do.
func TestWriteError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ro")
	os.WriteFile(p, nil, 0o644)
	f, err := os.Open(p) // read-only
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = Write(f, [][]byte{[]byte("x")})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte(p)) {
		t.Errorf("Write to a read-only file: error %v, want one naming %s", err, p)
	}
}

// TestAdvance drops whole and partial buffers.
func TestAdvance(t *testing.T) {
	b := func() [][]byte { return [][]byte{[]byte("ab"), []byte("cde"), []byte("f")} }
	for n, want := range []string{"abcdef", "bcdef", "cdef", "def", "ef", "f", ""} {
		if got := string(bytes.Join(advance(b(), n), nil)); got != want {
			t.Errorf("advance(%d) = %q, want %q", n, got, want)
		}
	}
}
