package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/camwire/camwire/segment"
)

// Run implements Source.
func (v *V4L2) Run(ctx context.Context, emit func(segment.AU)) error {
	path := v.device()
	log := v.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("source", "v4l2", "dev", path)
	open := v.Open
	if open == nil {
		open = OpenDevice
	}
	dev, err := open(path)
	if err != nil {
		return fmt.Errorf("v4l2: %w", err)
	}
	defer dev.Close()
	s := &stream{v: v, dev: dev, log: log}
	err = s.setup()
	defer s.teardown()
	if err == nil {
		err = s.loop(ctx, emit)
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("v4l2 %s: %w", path, err)
	}
	return err
}

// ProbeV4L2 streams n frames from dev in the format it is set to (raw from
// vivid, say) and returns their timestamps: a check, for tests on a real
// kernel, that the whole streaming path works.
func ProbeV4L2(ctx context.Context, dev string, n int) ([]time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var ts []time.Duration
	v := V4L2{Device: dev, KeepFormat: true}
	err := v.Run(ctx, func(au segment.AU) {
		if len(ts) < n {
			ts = append(ts, au.Time)
		}
		if len(ts) == n {
			cancel()
		}
	})
	if len(ts) == n {
		return ts, nil
	}
	return ts, fmt.Errorf("probe %s: %d of %d frames: %w", dev, len(ts), n, err)
}

// stream is one V4L2 capture session: set up, loop, torn down.
type stream struct {
	v   *V4L2
	dev Device
	log *slog.Logger

	h264      bool
	bufs      [][]byte // mmap'ed driver buffers, by index
	reqbufs   bool     // buffers were requested: free them at teardown
	streaming bool
}

// ioctl runs one request and wraps its error with the request name and
// what it was about (e.g. "bitrate=30000000").
func (s *stream) ioctl(req uintptr, what string, arg unsafe.Pointer) error {
	if err := s.dev.Ioctl(req, arg); err != nil {
		return ioctlError(req, what, err)
	}
	return nil
}

// setup checks the device, negotiates format, rate and controls, maps
// the buffers, queues them and starts streaming.
func (s *stream) setup() error {
	var c v4l2Capability
	if err := s.ioctl(vidiocQueryCap, "", unsafe.Pointer(&c)); err != nil {
		return err
	}
	caps := c.Capabilities
	if caps&capDeviceCaps != 0 {
		caps = c.DeviceCaps
	}
	driver := string(bytes.TrimRight(c.Driver[:], "\x00"))
	if caps&capVideoCapture == 0 || caps&capStreaming == 0 {
		return fmt.Errorf("driver %s: %w: no video capture with streaming (caps %#x)", driver, ErrUnsupported, caps)
	}
	if err := s.setFormat(driver); err != nil {
		return err
	}
	if err := s.setRate(); err != nil {
		return err
	}
	if err := s.setControls(); err != nil {
		return err
	}
	return s.startStreaming()
}

func (s *stream) setFormat(driver string) error {
	v := s.v
	f := v4l2Format{Type: bufTypeVideoCapture}
	if v.KeepFormat {
		if err := s.ioctl(vidiocGFmt, "", unsafe.Pointer(&f)); err != nil {
			return err
		}
	} else {
		want := v.Format
		if want == "" {
			want = "H264"
		}
		if len(want) != 4 {
			return fmt.Errorf("pixel format %q: want a fourcc of 4 characters, e.g. H264", want)
		}
		w, h := v.Width, v.Height
		if w == 0 && h == 0 && want == "H264" {
			w, h = 1920, 1080
		}
		if w <= 0 || h <= 0 {
			return fmt.Errorf("size %dx%d: width and height must be positive", w, h)
		}
		f.Fmt.Pix = v4l2PixFormat{Width: uint32(w), Height: uint32(h), PixelFormat: fourcc(want), Field: fieldNone}
		if err := s.ioctl(vidiocSFmt, fmt.Sprintf("%s %dx%d", want, w, h), unsafe.Pointer(&f)); err != nil {
			return err
		}
		// Drivers answer S_FMT with the nearest format they can do.
		if got := f.Fmt.Pix.PixelFormat; got != fourcc(want) {
			return fmt.Errorf("driver %s: %w: pixel format %s (it offers %s)", driver, ErrUnsupported, want, fourccString(got))
		}
		if f.Fmt.Pix.Width != uint32(w) || f.Fmt.Pix.Height != uint32(h) {
			s.log.Warn("driver adjusted the size", "want", fmt.Sprintf("%dx%d", w, h),
				"got", fmt.Sprintf("%dx%d", f.Fmt.Pix.Width, f.Fmt.Pix.Height))
		}
	}
	s.h264 = f.Fmt.Pix.PixelFormat == pixFmtH264
	s.log.Info("format", "driver", driver, "pixfmt", fourccString(f.Fmt.Pix.PixelFormat),
		"size", fmt.Sprintf("%dx%d", f.Fmt.Pix.Width, f.Fmt.Pix.Height))
	return nil
}

func (s *stream) setRate() error {
	fps := s.v.FPS
	if fps == 0 {
		if s.v.KeepFormat {
			return nil
		}
		fps = 30
	}
	if fps < 0 {
		return fmt.Errorf("fps %d: must be positive", fps)
	}
	p := v4l2StreamParm{Type: bufTypeVideoCapture}
	p.Capture.TimePerFrame = v4l2Fract{Numerator: 1, Denominator: uint32(fps)}
	if err := s.ioctl(vidiocSParm, fmt.Sprintf("fps=%d", fps), unsafe.Pointer(&p)); err != nil {
		return err
	}
	if got := p.Capture.TimePerFrame; got.Numerator != 0 && got.Denominator != uint32(fps)*got.Numerator {
		s.log.Warn("driver adjusted the frame rate", "want", fps, "got", fmt.Sprintf("%d/%d", got.Denominator, got.Numerator))
	}
	return nil
}

func (s *stream) startStreaming() error {
	n := s.v.Buffers
	if n == 0 {
		n = 4
	}
	rb := v4l2RequestBuffers{Count: uint32(n), Type: bufTypeVideoCapture, Memory: memoryMMAP}
	if err := s.ioctl(vidiocReqBufs, fmt.Sprintf("count=%d", n), unsafe.Pointer(&rb)); err != nil {
		return err
	}
	s.reqbufs = true
	if rb.Count < 2 {
		return fmt.Errorf("driver gave %d buffers for %d asked, need at least 2", rb.Count, n)
	}
	for i := range rb.Count {
		b := v4l2Buffer{Index: i, Type: bufTypeVideoCapture, Memory: memoryMMAP}
		if err := s.ioctl(vidiocQueryBuf, fmt.Sprintf("index=%d", i), unsafe.Pointer(&b)); err != nil {
			return err
		}
		m, err := s.dev.Mmap(int64(b.Offset), int(b.Length))
		if err != nil {
			return fmt.Errorf("mmap buffer %d (%d bytes): %w", i, b.Length, err)
		}
		s.bufs = append(s.bufs, m)
		if err := s.ioctl(vidiocQBuf, fmt.Sprintf("index=%d", i), unsafe.Pointer(&b)); err != nil {
			return err
		}
	}
	typ := int32(bufTypeVideoCapture)
	if err := s.ioctl(vidiocStreamOn, "", unsafe.Pointer(&typ)); err != nil {
		return err
	}
	s.streaming = true
	return nil
}

// loop dequeues filled buffers, copies them out, gives them straight back
// to the driver and emits them, until ctx ends or the device fails.
func (s *stream) loop(ctx context.Context, emit func(segment.AU)) error {
	now := s.v.Now
	if now == nil {
		now = Monotonic
	}
	var header []byte // H.264 buffer(s) with no picture, for the next frame
	var errored int
	for {
		if err := s.dev.Wait(ctx); err != nil {
			return err
		}
		b := v4l2Buffer{Type: bufTypeVideoCapture, Memory: memoryMMAP}
		if err := s.dev.Ioctl(vidiocDQBuf, unsafe.Pointer(&b)); err != nil {
			if errors.Is(err, unix.EAGAIN) {
				continue // poll said ready, but another reader took it
			}
			return ioctlError(vidiocDQBuf, "", err)
		}
		if int(b.Index) >= len(s.bufs) || int(b.BytesUsed) > len(s.bufs[b.Index]) {
			return fmt.Errorf("VIDIOC_DQBUF: buffer %d with %d bytes: not one of the %d mapped", b.Index, b.BytesUsed, len(s.bufs))
		}
		data := bytes.Clone(s.bufs[b.Index][:b.BytesUsed])
		flags, tv := b.Flags, b.Timestamp
		if err := s.ioctl(vidiocQBuf, fmt.Sprintf("index=%d", b.Index), unsafe.Pointer(&b)); err != nil {
			return err
		}
		if flags&bufFlagError != 0 {
			errored++
			s.log.Warn("driver marked a buffer as corrupt, dropped", "bytes", len(data), "dropped_total", errored)
			continue
		}
		if len(data) == 0 {
			continue
		}
		t := now()
		if flags&bufFlagTimestampMask == bufFlagTimestampMonotonic {
			t = time.Duration(tv.Sec)*time.Second + time.Duration(tv.Usec)*time.Microsecond
		}
		if !s.h264 {
			emit(segment.AU{Data: data, Time: t, Key: true})
			continue
		}
		if !segment.HasPicture(data) {
			if len(header)+len(data) > segment.DefaultMaxAU {
				return fmt.Errorf("%d bytes of H.264 without a picture: %w", len(header)+len(data), segment.ErrAUTooBig)
			}
			header = append(header, data...)
			continue
		}
		if header != nil {
			data = append(header, data...)
			header = nil
		}
		emit(segment.AU{Data: data, Time: t, Key: flags&bufFlagKeyframe != 0 || segment.IsKey(data)})
	}
}

// teardown stops streaming, unmaps and frees the buffers; each step runs
// even if one before failed, and failures are logged (the device is being
// let go of anyway).
func (s *stream) teardown() {
	if s.streaming {
		typ := int32(bufTypeVideoCapture)
		if err := s.ioctl(vidiocStreamOff, "", unsafe.Pointer(&typ)); err != nil {
			s.log.Warn("stop streaming", "err", err)
		}
		s.streaming = false
	}
	for i, m := range s.bufs {
		if err := s.dev.Munmap(m); err != nil {
			s.log.Warn("munmap", "buffer", i, "err", err)
		}
	}
	s.bufs = nil
	if s.reqbufs {
		rb := v4l2RequestBuffers{Count: 0, Type: bufTypeVideoCapture, Memory: memoryMMAP}
		if err := s.ioctl(vidiocReqBufs, "count=0", unsafe.Pointer(&rb)); err != nil {
			s.log.Warn("free buffers", "err", err)
		}
		s.reqbufs = false
	}
}
