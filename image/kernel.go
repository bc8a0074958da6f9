package image

import (
	"encoding/binary"
	"fmt"
)

// The arm64 Image header (Linux Documentation/arch/arm64/booting.rst),
// the first 64 bytes of the kernel file:
//
//	offset  0  u32 code0, u32 code1   executable code (the EFI stub's "MZ")
//	offset  8  u64 text_offset        image load offset, little endian
//	offset 16  u64 image_size         effective image size, little endian
//	offset 24  u64 flags
//	offset 32  u64 res2, res3, res4   reserved
//	offset 56  u32 magic              "ARM\x64"
//	offset 60  u32 res5               PE header offset
//
// image_size covers the kernel's BSS, which the file does not hold and
// the kernel zeroes at boot. The Pi firmware's `initramfs … followkernel`
// puts the initramfs right after the file as loaded, so a file shorter
// than image_size has the start of the initramfs zeroed. The card
// therefore carries the kernel padded to image_size.
const (
	arm64HeaderSize      = 64
	arm64ImageSizeOffset = 16
	arm64MagicOffset     = 56
	arm64Magic           = 0x644d5241 // "ARM\x64" read little endian
	// maxKernelPadding bounds the zeros added: Debian's 6.1 kernel needs
	// ~648 KiB; a header asking for far more is not a kernel to trust.
	maxKernelPadding = 64 << 20
)

// Arm64ImageSize reads image_size from an arm64 Image's header. Zero
// means the header does not say (kernels before 3.17).
func Arm64ImageSize(kernel []byte) (uint64, error) {
	if len(kernel) < arm64HeaderSize {
		return 0, fmt.Errorf("kernel: %d bytes, shorter than the arm64 Image header (%d)", len(kernel), arm64HeaderSize)
	}
	if m := binary.LittleEndian.Uint32(kernel[arm64MagicOffset:]); m != arm64Magic {
		return 0, fmt.Errorf("kernel: magic %#08x at offset %d, want %#08x (\"ARM\\x64\"): not an arm64 Image", m, arm64MagicOffset, arm64Magic)
	}
	return binary.LittleEndian.Uint64(kernel[arm64ImageSizeOffset:]), nil
}

// PadKernel returns the arm64 Image extended with zeros to its header's
// image_size, so nothing placed after it on load (the initramfs, with
// followkernel) lies where the kernel zeroes its BSS. A kernel already
// that long, or whose header gives no size, is returned as is.
func PadKernel(kernel []byte) ([]byte, error) {
	size, err := Arm64ImageSize(kernel)
	if err != nil {
		return nil, err
	}
	if size <= uint64(len(kernel)) {
		return kernel, nil
	}
	if size-uint64(len(kernel)) > maxKernelPadding {
		return nil, fmt.Errorf("kernel: header image_size %d is %d bytes past the %d-byte file, more than the %d a kernel's BSS takes",
			size, size-uint64(len(kernel)), len(kernel), maxKernelPadding)
	}
	padded := make([]byte, size)
	copy(padded, kernel)
	return padded, nil
}
