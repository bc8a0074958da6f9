package capture

import (
	"context"
	"log/slog"
	"time"
	"unsafe"
)

// V4L2 captures from a Video4Linux2 device natively, without raspivid: on
// the Pi, /dev/video0 of the bcm2835-v4l2 driver, which encodes H.264 in
// the GPU and hands out one encoded frame per buffer, stamped on
// CLOCK_MONOTONIC and flagged when it is a keyframe.
//
// Run negotiates the format (VIDIOC_S_FMT), frame rate (VIDIOC_S_PARM) and
// encoder/camera controls (VIDIOC_S_CTRL), streams through mmap'ed buffers
// and ends, on ctx or on error, with STREAMOFF and the buffers unmapped
// and freed. A format or rate the driver rejects ends Run with an error
// naming it; a value the driver adjusts (sizes, rates, a bitrate rounded
// to its step) is logged with both numbers. Controls degrade instead: a
// rejected bitrate or keyframe period is clamped to the range the driver
// reports (VIDIOC_QUERYCTRL), a rotation or flip rejected at 0 is left
// as the driver has it, each with a warning; only a rotation or flip the
// user asked for and the driver refuses is an error.
//
// Raw mode: with a Format other than "H264" (e.g. "YUYV", as the vivid
// test driver offers) each AU is one raw frame, not H.264, with Key set.
// It exists so the streaming path can be tested on a real kernel without
// a camera (see ProbeV4L2); its output is not for the segmenter.
//
// Only Linux has V4L2; elsewhere Run returns an error saying so.
type V4L2 struct {
	Device string // device node; "" means /dev/video0

	// Format is the pixel format's fourcc; "" means "H264".
	Format string
	// KeepFormat streams in whatever format and size the device is set
	// to (VIDIOC_G_FMT) instead of setting Format, Width and Height.
	KeepFormat bool
	Width      int // 0 means 1920 (H.264) or the device's current width
	Height     int // 0 means 1080 (H.264) or the device's current height
	FPS        int // frames per second (bcm2835: 1–90); 0 means 30, or unchanged with KeepFormat

	// H.264 encoder and camera controls, set in H.264 mode.
	Bitrate  int  // bit/s (bcm2835: 25000–25000000, step 25000); 0 leaves the driver's (10 Mbit/s)
	IPeriod  int  // frames from keyframe to keyframe; 0 leaves the driver's (60)
	Rotation int  // degrees: 0, 90, 180, 270
	HFlip    bool // mirror left-right
	VFlip    bool // mirror top-bottom

	Buffers int // mmap buffers to ask for; 0 means 4

	Logger *slog.Logger // nil means slog.Default()
	// Open opens the device; nil means OpenDevice. Tests put a fake here.
	Open func(path string) (Device, error)
	// Now stamps buffers whose driver gives no monotonic timestamp; nil
	// means Monotonic.
	Now func() time.Duration
}

func (v *V4L2) device() string {
	if v.Device == "" {
		return "/dev/video0"
	}
	return v.Device
}

// Device is what the V4L2 source needs from a video device node. The real
// one is a file in /dev; tests use a fake that behaves as the driver
// documents.
type Device interface {
	// Ioctl performs a request on the struct at arg; it returns the
	// driver's errno (a unix.Errno) and retries EINTR itself.
	Ioctl(req uintptr, arg unsafe.Pointer) error
	// Mmap maps length bytes of driver buffer memory at offset.
	Mmap(offset int64, length int) ([]byte, error)
	Munmap(b []byte) error
	// Wait blocks until a buffer can be dequeued, or ctx ends (ctx.Err()).
	Wait(ctx context.Context) error
	Close() error
}
