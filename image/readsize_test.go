package image

import (
	"bytes"
	"path/filepath"
	"testing"
)

// TestReadDiskFileExactSize: go-diskfs's reader returns whole sectors for
// some sizes (2886–3071 bytes read as 3072); ReadDiskFile returns what
// the directory entry says, as the kernel and mtools do.
func TestReadDiskFileExactSize(t *testing.T) {
	for _, n := range []int{1, 2560, 2896, 3071, 3072, 3073, 70000} {
		want := bytes.Repeat([]byte("x"), n)
		img := filepath.Join(t.TempDir(), "d.img")
		if err := WriteDisk(img, 64<<20, map[string][]byte{"camwire.txt": want}); err != nil {
			t.Fatal(err)
		}
		if got, err := ReadDiskFile(img, "camwire.txt"); err != nil || !bytes.Equal(got, want) {
			t.Errorf("ReadDiskFile of a %d-byte file: %d bytes, %v", n, len(got), err)
		}
	}
}
