package image

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
)

// arm64Image builds a kernel file of n bytes whose header says
// image_size size, with a recognisable body.
func arm64Image(n int, size uint64) []byte {
	b := bytes.Repeat([]byte{0xa5}, n)
	copy(b, "MZ")
	binary.LittleEndian.PutUint64(b[8:], 0)
	binary.LittleEndian.PutUint64(b[16:], size)
	binary.LittleEndian.PutUint32(b[56:], 0x644d5241)
	return b
}

func TestPadKernel(t *testing.T) {
	for _, tc := range []struct {
		name    string
		kernel  []byte
		wantLen int
		wantErr string
	}{
		{"shorter than image_size", arm64Image(4096, 4096+663616), 4096 + 663616, ""},
		{"exactly image_size", arm64Image(4096, 4096), 4096, ""},
		{"no size in the header", arm64Image(4096, 0), 4096, ""},
		{"not an arm64 Image", bytes.Repeat([]byte{0}, 4096), 0, "not an arm64 Image"},
		{"shorter than the header", []byte("MZ"), 0, "shorter than the arm64 Image header"},
		{"absurd image_size", arm64Image(4096, 1<<40), 0, "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := bytes.Clone(tc.kernel)
			got, err := PadKernel(tc.kernel)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("PadKernel = %v, want an error mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.wantLen {
				t.Errorf("PadKernel: %d bytes, want %d", len(got), tc.wantLen)
			}
			if !bytes.Equal(got[:len(orig)], orig) {
				t.Error("PadKernel changed the kernel's own bytes")
			}
			if len(bytes.Trim(got[len(orig):], "\x00")) != 0 {
				t.Error("PadKernel padded with something other than zeros")
			}
			if !bytes.Equal(tc.kernel, orig) {
				t.Error("PadKernel modified its input")
			}
		})
	}
}
