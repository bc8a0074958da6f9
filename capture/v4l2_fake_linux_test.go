package capture

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fakeFrame is one buffer's worth the fake driver hands out.
type fakeFrame struct {
	data      []byte
	key       bool          // V4L2_BUF_FLAG_KEYFRAME
	time      time.Duration // buffer timestamp
	noMono    bool          // timestamp flag not MONOTONIC (unknown)
	corrupt   bool          // V4L2_BUF_FLAG_ERROR
	vanishing bool          // the device is unplugged instead of this frame
}

// fakeDevice behaves as bcm2835-v4l2 documents (see PLATFORM.md): H.264
// and raw formats, 1–90 fps, bitrate 25 kbit/s–25 Mbit/s in steps of
// 25k (out of range: EINVAL; off-step: rounded and written back, as
// v4l2-ctrls does), rotation in steps of 90, keyframe flag and monotonic
// timestamps on buffers; EINVAL for what it does not support, and for
// the controls a test makes it reject. It records
// what was done to it for the tests to check.
type fakeDevice struct {
	mu      sync.Mutex
	frames  []fakeFrame // still to hand out, in order
	formats []uint32    // pixel formats offered

	format    v4l2PixFormat
	fps       uint32
	ctrls     map[uint32]int32
	ctrlsSet  []uint32 // IDs in the order they were set
	limits    map[uint32]ctrlRange
	reject    map[uint32]bool // S_CTRL fails with EINVAL for these, whatever the value
	noQuery   bool            // VIDIOC_QUERYCTRL fails with EINVAL
	bufs      [][]byte
	queued    []uint32 // buffer indices queued, in order
	dequeued  map[uint32]int
	streaming bool
	gone      bool

	calls    []string // request names, in order
	unmapped int
	closed   bool
	wake     chan struct{}
}

// ctrlRange is an integer control's range and step, as VIDIOC_QUERYCTRL
// reports them.
type ctrlRange struct {
	lo, hi, step int32
	flags        uint32
}

// bcm2835Controls are the driver's ranges (PLATFORM.md).
func bcm2835Controls() map[uint32]ctrlRange {
	return map[uint32]ctrlRange{
		cidBitrate:         {25000, 25000000, 25000, 0},
		cidH264IPeriod:     {0, 1<<31 - 1, 1, 0},
		cidRotate:          {0, 360, 90, 0},
		cidRepeatSeqHeader: {0, 1, 1, 0},
		cidHFlip:           {0, 1, 1, 0},
		cidVFlip:           {0, 1, 1, 0},
	}
}

func newFakeDevice(frames ...fakeFrame) *fakeDevice {
	return &fakeDevice{
		frames:   frames,
		formats:  []uint32{fourcc("H264"), fourcc("YU12"), fourcc("YUYV"), fourcc("JPEG")},
		format:   v4l2PixFormat{Width: 1024, Height: 768, PixelFormat: fourcc("YU12"), Field: fieldNone},
		fps:      30,
		ctrls:    map[uint32]int32{cidBitrate: 10000000, cidH264IPeriod: 60, cidRepeatSeqHeader: 0, cidRotate: 0, cidHFlip: 0, cidVFlip: 0},
		limits:   bcm2835Controls(),
		reject:   map[uint32]bool{},
		dequeued: map[uint32]int{},
		wake:     make(chan struct{}, 1),
	}
}

func (d *fakeDevice) open(string) (Device, error) { return d, nil }

func (d *fakeDevice) Ioctl(req uintptr, arg unsafe.Pointer) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, requestNames[req])
	if d.gone {
		return unix.ENODEV
	}
	switch req {
	case vidiocQueryCap:
		c := (*v4l2Capability)(arg)
		copy(c.Driver[:], "bcm2835 mmal")
		c.Capabilities = capVideoCapture | capStreaming | capDeviceCaps
		c.DeviceCaps = capVideoCapture | capStreaming
	case vidiocGFmt:
		f := (*v4l2Format)(arg)
		f.Fmt.Pix = d.format
	case vidiocSFmt:
		f := (*v4l2Format)(arg)
		if d.streaming || d.bufs != nil {
			return unix.EBUSY
		}
		p := f.Fmt.Pix
		if !slices.Contains(d.formats, p.PixelFormat) {
			p.PixelFormat = fourcc("YU12") // nearest: the default
		}
		p.Width, p.Height = min(max(p.Width, 32), 3280), min(max(p.Height, 32), 2464)
		p.Field = fieldNone
		p.SizeImage = p.Width * p.Height * 2
		d.format, f.Fmt.Pix = p, p
	case vidiocSParm:
		p := (*v4l2StreamParm)(arg)
		tpf := p.Capture.TimePerFrame
		if tpf.Numerator == 0 || tpf.Denominator/tpf.Numerator < 1 || tpf.Denominator/tpf.Numerator > 90 {
			return unix.EINVAL
		}
		d.fps = tpf.Denominator / tpf.Numerator
		p.Capture.TimePerFrame = v4l2Fract{1, d.fps}
	case vidiocSCtrl:
		c := (*v4l2Control)(arg)
		r, ok := d.limits[c.ID]
		if !ok || d.reject[c.ID] || c.Value < r.lo || c.Value > r.hi {
			return unix.EINVAL
		}
		c.Value = r.lo + (c.Value-r.lo+r.step/2)/r.step*r.step
		d.ctrls[c.ID] = c.Value
		d.ctrlsSet = append(d.ctrlsSet, c.ID)
	case vidiocQueryCtrl:
		q := (*v4l2QueryCtrl)(arg)
		r, ok := d.limits[q.ID]
		if !ok || d.noQuery {
			return unix.EINVAL
		}
		*q = v4l2QueryCtrl{ID: q.ID, Type: 1, Minimum: r.lo, Maximum: r.hi, Step: r.step, Flags: r.flags}
	case vidiocReqBufs:
		rb := (*v4l2RequestBuffers)(arg)
		if rb.Memory != memoryMMAP || rb.Type != bufTypeVideoCapture {
			return unix.EINVAL
		}
		if d.streaming {
			return unix.EBUSY
		}
		d.bufs, d.queued = nil, nil
		for range min(rb.Count, 8) {
			d.bufs = append(d.bufs, make([]byte, max(d.format.SizeImage, 4096)))
		}
		rb.Count = uint32(len(d.bufs))
	case vidiocQueryBuf:
		b := (*v4l2Buffer)(arg)
		if int(b.Index) >= len(d.bufs) {
			return unix.EINVAL
		}
		b.Offset = b.Index << 20
		b.Length = uint32(len(d.bufs[b.Index]))
	case vidiocQBuf:
		b := (*v4l2Buffer)(arg)
		if int(b.Index) >= len(d.bufs) || slices.Contains(d.queued, b.Index) {
			return unix.EINVAL
		}
		d.queued = append(d.queued, b.Index)
	case vidiocDQBuf:
		b := (*v4l2Buffer)(arg)
		if !d.streaming || len(d.queued) == 0 || len(d.frames) == 0 {
			return unix.EAGAIN
		}
		fr := d.frames[0]
		d.frames = d.frames[1:]
		i := d.queued[0]
		d.queued = d.queued[1:]
		d.dequeued[i]++
		n := copy(d.bufs[i], fr.data)
		*b = v4l2Buffer{Index: i, Type: bufTypeVideoCapture, Memory: memoryMMAP, BytesUsed: uint32(n),
			Offset: i << 20, Length: uint32(len(d.bufs[i])), Field: fieldNone}
		b.Flags = bufFlagTimestampMonotonic
		if fr.noMono {
			b.Flags = 0
		}
		if fr.key {
			b.Flags |= bufFlagKeyframe
		}
		if fr.corrupt {
			b.Flags |= bufFlagError
		}
		b.Timestamp = unix.NsecToTimeval(int64(fr.time))
	case vidiocStreamOn:
		if len(d.bufs) == 0 {
			return unix.EINVAL
		}
		d.streaming = true
	case vidiocStreamOff:
		d.streaming = false
		d.queued = nil
	default:
		return unix.ENOTTY
	}
	return nil
}

func (d *fakeDevice) Mmap(offset int64, length int) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	i := int(offset >> 20)
	if i >= len(d.bufs) || length != len(d.bufs[i]) {
		return nil, unix.EINVAL
	}
	return d.bufs[i], nil
}

func (d *fakeDevice) Munmap(b []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.unmapped++
	return nil
}

// Wait returns when a frame is ready for a queued buffer; with no frames
// left it blocks until ctx ends, like a camera that has nothing new yet.
func (d *fakeDevice) Wait(ctx context.Context) error {
	d.mu.Lock()
	if d.streaming && len(d.queued) > 0 && len(d.frames) > 0 {
		if d.frames[0].vanishing {
			d.gone = true
			d.mu.Unlock()
			return fmt.Errorf("poll fake: %w (revents %#x)", ErrNoDevice, unix.POLLERR)
		}
		d.mu.Unlock()
		return nil
	}
	d.mu.Unlock()
	<-ctx.Done()
	return ctx.Err()
}

func (d *fakeDevice) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	return nil
}
