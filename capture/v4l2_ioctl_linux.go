package capture

// The thin V4L2 layer: Go mirrors of the videodev2.h structs the camera
// needs, request numbers computed from their sizes (as the kernel's _IOWR
// macros do), errno mapped to sentinel errors, and the Device seam that
// tests replace with a fake driver. Layouts are those of 64-bit Linux
// (arm64 on the Pi, amd64 in tests); TestV4L2Layout pins them.

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ioctl request encoding (asm-generic/ioctl.h): dir<<30 | size<<16 | type<<8 | nr.
const (
	iocWrite = 1
	iocRead  = 2
)

func ioc(dir, nr, size uintptr) uintptr { return dir<<30 | size<<16 | 'V'<<8 | nr }

// v4l2Capability is struct v4l2_capability.
type v4l2Capability struct {
	Driver       [16]byte
	Card         [32]byte
	BusInfo      [32]byte
	Version      uint32
	Capabilities uint32
	DeviceCaps   uint32
	Reserved     [3]uint32
}

// v4l2PixFormat is struct v4l2_pix_format.
type v4l2PixFormat struct {
	Width, Height uint32
	PixelFormat   uint32
	Field         uint32
	BytesPerLine  uint32
	SizeImage     uint32
	Colorspace    uint32
	Priv          uint32
	Flags         uint32
	YCbCrEnc      uint32
	Quantization  uint32
	XferFunc      uint32
}

// v4l2Format is struct v4l2_format. Its union holds structs with pointers,
// so it is pointer-aligned: the zero-length uintptr array does that here.
type v4l2Format struct {
	Type uint32
	Fmt  struct {
		_   [0]uintptr
		Pix v4l2PixFormat
		_   [200 - unsafe.Sizeof(v4l2PixFormat{})]byte
	}
}

// v4l2Fract is struct v4l2_fract.
type v4l2Fract struct{ Numerator, Denominator uint32 }

// v4l2StreamParm is struct v4l2_streamparm with its capture member.
type v4l2StreamParm struct {
	Type    uint32
	Capture struct {
		Capability   uint32
		CaptureMode  uint32
		TimePerFrame v4l2Fract
		ExtendedMode uint32
		ReadBuffers  uint32
		Reserved     [4]uint32
	}
	_ [200 - 40]byte
}

// v4l2Control is struct v4l2_control.
type v4l2Control struct {
	ID    uint32
	Value int32
}

// v4l2QueryCtrl is struct v4l2_queryctrl: a control's type, range and
// step, and whether it can be set now.
type v4l2QueryCtrl struct {
	ID           uint32
	Type         uint32
	Name         [32]byte
	Minimum      int32
	Maximum      int32
	Step         int32
	DefaultValue int32
	Flags        uint32
	Reserved     [2]uint32
}

// v4l2RequestBuffers is struct v4l2_requestbuffers.
type v4l2RequestBuffers struct {
	Count        uint32
	Type         uint32
	Memory       uint32
	Capabilities uint32
	Flags        uint8
	Reserved     [3]uint8
}

// v4l2Timecode is struct v4l2_timecode.
type v4l2Timecode struct {
	Type, Flags                     uint32
	Frames, Seconds, Minutes, Hours uint8
	UserBits                        [4]uint8
}

// v4l2Buffer is struct v4l2_buffer for V4L2_MEMORY_MMAP: the m union is
// read as its offset member, padded to the union's pointer size.
type v4l2Buffer struct {
	Index     uint32
	Type      uint32
	BytesUsed uint32
	Flags     uint32
	Field     uint32
	Timestamp unix.Timeval
	Timecode  v4l2Timecode
	Sequence  uint32
	Memory    uint32
	Offset    uint32
	_         [unsafe.Sizeof(uintptr(0)) - 4]byte
	Length    uint32
	Reserved2 uint32
	RequestFD int32
}

// Request numbers, as videodev2.h defines them.
var (
	vidiocQueryCap  = ioc(iocRead, 0, unsafe.Sizeof(v4l2Capability{}))
	vidiocGFmt      = ioc(iocRead|iocWrite, 4, unsafe.Sizeof(v4l2Format{}))
	vidiocSFmt      = ioc(iocRead|iocWrite, 5, unsafe.Sizeof(v4l2Format{}))
	vidiocReqBufs   = ioc(iocRead|iocWrite, 8, unsafe.Sizeof(v4l2RequestBuffers{}))
	vidiocQueryBuf  = ioc(iocRead|iocWrite, 9, unsafe.Sizeof(v4l2Buffer{}))
	vidiocQBuf      = ioc(iocRead|iocWrite, 15, unsafe.Sizeof(v4l2Buffer{}))
	vidiocDQBuf     = ioc(iocRead|iocWrite, 17, unsafe.Sizeof(v4l2Buffer{}))
	vidiocStreamOn  = ioc(iocWrite, 18, unsafe.Sizeof(int32(0)))
	vidiocStreamOff = ioc(iocWrite, 19, unsafe.Sizeof(int32(0)))
	vidiocGParm     = ioc(iocRead|iocWrite, 21, unsafe.Sizeof(v4l2StreamParm{}))
	vidiocSParm     = ioc(iocRead|iocWrite, 22, unsafe.Sizeof(v4l2StreamParm{}))
	vidiocSCtrl     = ioc(iocRead|iocWrite, 28, unsafe.Sizeof(v4l2Control{}))
	vidiocQueryCtrl = ioc(iocRead|iocWrite, 36, unsafe.Sizeof(v4l2QueryCtrl{}))
)

// requestNames names requests in errors.
var requestNames = map[uintptr]string{
	vidiocQueryCap: "VIDIOC_QUERYCAP", vidiocGFmt: "VIDIOC_G_FMT", vidiocSFmt: "VIDIOC_S_FMT",
	vidiocReqBufs: "VIDIOC_REQBUFS", vidiocQueryBuf: "VIDIOC_QUERYBUF", vidiocQBuf: "VIDIOC_QBUF",
	vidiocDQBuf: "VIDIOC_DQBUF", vidiocStreamOn: "VIDIOC_STREAMON", vidiocStreamOff: "VIDIOC_STREAMOFF",
	vidiocGParm: "VIDIOC_G_PARM", vidiocSParm: "VIDIOC_S_PARM", vidiocSCtrl: "VIDIOC_S_CTRL",
	vidiocQueryCtrl: "VIDIOC_QUERYCTRL",
}

// videodev2.h constants used here.
const (
	bufTypeVideoCapture = 1
	memoryMMAP          = 1
	fieldNone           = 1

	ctrlFlagDisabled = 0x0001
	ctrlFlagReadOnly = 0x0004
	ctrlFlagInactive = 0x0010

	capVideoCapture = 0x00000001
	capStreaming    = 0x04000000
	capDeviceCaps   = 0x80000000

	bufFlagKeyframe           = 0x00000008
	bufFlagError              = 0x00000040
	bufFlagTimestampMask      = 0x0000e000
	bufFlagTimestampMonotonic = 0x00002000

	cidBase            = 0x00980900 // V4L2_CID_BASE
	cidHFlip           = cidBase + 20
	cidVFlip           = cidBase + 21
	cidRotate          = cidBase + 34
	cidCodecBase       = 0x00990900 // V4L2_CID_CODEC_BASE (= V4L2_CID_MPEG_BASE)
	cidBitrate         = cidCodecBase + 207
	cidRepeatSeqHeader = cidCodecBase + 226
	cidH264IPeriod     = cidCodecBase + 358
)

// fourcc packs a V4L2 pixel format code, e.g. "H264", "YUYV".
func fourcc(s string) uint32 {
	var b [4]byte
	copy(b[:], s)
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// fourccString is the inverse of fourcc, for messages.
func fourccString(v uint32) string {
	return string([]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)})
}

var pixFmtH264 = fourcc("H264")

// Sentinel errors for the errno values a V4L2 driver returns; errors from
// this package wrap one of them and the errno itself.
var (
	ErrInvalid     = errors.New("driver rejected the value")    // EINVAL
	ErrRange       = errors.New("value out of range")           // ERANGE
	ErrBusy        = errors.New("device busy")                  // EBUSY: someone else streams
	ErrNoDevice    = errors.New("no such device")               // ENODEV, ENXIO, ENOENT
	ErrUnsupported = errors.New("not supported by this driver") // ENOTTY
)

// errnoSentinel maps a driver's errno to this package's sentinel, nil
// when there is none.
func errnoSentinel(errno unix.Errno) error {
	switch errno {
	case unix.EINVAL:
		return ErrInvalid
	case unix.ERANGE:
		return ErrRange
	case unix.EBUSY:
		return ErrBusy
	case unix.ENODEV, unix.ENXIO, unix.ENOENT:
		return ErrNoDevice
	case unix.ENOTTY:
		return ErrUnsupported
	}
	return nil
}

// ioctlError wraps an ioctl's errno with its request name, what it was
// about, and the sentinel.
func ioctlError(req uintptr, what string, err error) error {
	name := requestNames[req]
	if name == "" {
		name = fmt.Sprintf("ioctl %#x", req)
	}
	if what != "" {
		name += " " + what
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		if s := errnoSentinel(errno); s != nil {
			return fmt.Errorf("%s: %w (%w)", name, s, errno)
		}
	}
	return fmt.Errorf("%s: %w", name, err)
}

// fileDevice is a Device backed by a /dev/videoN node.
type fileDevice struct {
	path string
	fd   int
	wake int // eventfd that ends a Wait when its ctx ends
}

// OpenDevice opens a V4L2 device node for streaming.
func OpenDevice(path string) (Device, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if errno, ok := err.(unix.Errno); ok && errnoSentinel(errno) != nil {
			return nil, fmt.Errorf("open %s: %w (%w)", path, errnoSentinel(errno), errno)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	return &fileDevice{path: path, fd: fd, wake: wake}, nil
}

func (d *fileDevice) Ioctl(req uintptr, arg unsafe.Pointer) error {
	for {
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(d.fd), req, uintptr(arg))
		if errno != unix.EINTR {
			if errno != 0 {
				return errno
			}
			return nil
		}
	}
}

func (d *fileDevice) Mmap(offset int64, length int) ([]byte, error) {
	return unix.Mmap(d.fd, offset, length, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
}

func (d *fileDevice) Munmap(b []byte) error { return unix.Munmap(b) }

func (d *fileDevice) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() {
		one := [8]byte{1}
		unix.Write(d.wake, one[:])
	})
	defer stop()
	fds := []unix.PollFd{{Fd: int32(d.fd), Events: unix.POLLIN}, {Fd: int32(d.wake), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, int((5 * time.Second).Milliseconds()))
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return fmt.Errorf("poll: %w", err)
		case fds[1].Revents != 0 || ctx.Err() != nil:
			return ctx.Err()
		case fds[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0:
			return fmt.Errorf("poll %s: %w (revents %#x)", d.path, ErrNoDevice, fds[0].Revents)
		case fds[0].Revents&unix.POLLIN != 0:
			return nil
		}
		// A 5 s timeout with nothing: keep waiting; the camera may be slow
		// at 1 fps, and a dead one shows as POLLERR.
	}
}

func (d *fileDevice) Close() error {
	unix.Close(d.wake)
	return unix.Close(d.fd)
}
