package capture

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/camwire/camwire/internal/syncbuf"
	"github.com/camwire/camwire/segment"
)

// TestV4L2Layout pins the structs and request numbers to what
// <linux/videodev2.h> gives on 64-bit Linux (printed by a C program).
func TestV4L2Layout(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("golden values are for 64-bit Linux")
	}
	tests := []struct {
		name      string
		got, want uintptr
	}{
		{"sizeof v4l2_capability", unsafe.Sizeof(v4l2Capability{}), 104},
		{"sizeof v4l2_format", unsafe.Sizeof(v4l2Format{}), 208},
		{"sizeof v4l2_requestbuffers", unsafe.Sizeof(v4l2RequestBuffers{}), 20},
		{"sizeof v4l2_buffer", unsafe.Sizeof(v4l2Buffer{}), 88},
		{"sizeof v4l2_streamparm", unsafe.Sizeof(v4l2StreamParm{}), 204},
		{"sizeof v4l2_control", unsafe.Sizeof(v4l2Control{}), 8},
		{"sizeof v4l2_queryctrl", unsafe.Sizeof(v4l2QueryCtrl{}), 68},
		{"offsetof v4l2_buffer.timestamp", unsafe.Offsetof(v4l2Buffer{}.Timestamp), 24},
		{"offsetof v4l2_buffer.sequence", unsafe.Offsetof(v4l2Buffer{}.Sequence), 56},
		{"offsetof v4l2_buffer.m", unsafe.Offsetof(v4l2Buffer{}.Offset), 64},
		{"offsetof v4l2_buffer.length", unsafe.Offsetof(v4l2Buffer{}.Length), 72},
		{"offsetof v4l2_format.fmt", unsafe.Offsetof(v4l2Format{}.Fmt), 8},
		{"VIDIOC_QUERYCAP", vidiocQueryCap, 0x80685600},
		{"VIDIOC_G_FMT", vidiocGFmt, 0xc0d05604},
		{"VIDIOC_S_FMT", vidiocSFmt, 0xc0d05605},
		{"VIDIOC_REQBUFS", vidiocReqBufs, 0xc0145608},
		{"VIDIOC_QUERYBUF", vidiocQueryBuf, 0xc0585609},
		{"VIDIOC_QBUF", vidiocQBuf, 0xc058560f},
		{"VIDIOC_DQBUF", vidiocDQBuf, 0xc0585611},
		{"VIDIOC_STREAMON", vidiocStreamOn, 0x40045612},
		{"VIDIOC_STREAMOFF", vidiocStreamOff, 0x40045613},
		{"VIDIOC_G_PARM", vidiocGParm, 0xc0cc5615},
		{"VIDIOC_S_PARM", vidiocSParm, 0xc0cc5616},
		{"VIDIOC_S_CTRL", vidiocSCtrl, 0xc008561c},
		{"VIDIOC_QUERYCTRL", vidiocQueryCtrl, 0xc0445624},
		{"V4L2_PIX_FMT_H264", uintptr(fourcc("H264")), 0x34363248},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %#x, want %#x", tt.name, tt.got, tt.want)
		}
	}
}

// clipFrames returns the clip's first n access units as the camera would
// hand them out: one per buffer, keyframe flag set, 1/30 s apart from
// base. The first keyframe's SPS/PPS come in a buffer of their own, as
// the GPU encoder sends its stream header.
func cameraFrames(t *testing.T, n int, base time.Duration) ([]fakeFrame, []segment.AU) {
	t.Helper()
	aus, err := clipAUs()
	if err != nil {
		t.Fatal(err)
	}
	var frames []fakeFrame
	var want []segment.AU
	for i, au := range aus[:n] {
		ts := base + time.Duration(i)*time.Second/ClipFPS
		ts = ts.Truncate(time.Microsecond) // a timeval holds µs
		data := au.Data
		if i == 0 {
			idr := bytes.Index(data, []byte{0, 0, 1, 0x65})
			if idr < 0 {
				t.Fatal("clip's first AU has no IDR slice")
			}
			if data[idr-1] == 0 {
				idr--
			}
			frames = append(frames, fakeFrame{data: data[:idr], time: ts})
			data = data[idr:]
		}
		frames = append(frames, fakeFrame{data: data, key: au.Key, time: ts})
		want = append(want, segment.AU{Data: au.Data, Time: ts, Key: au.Key})
	}
	return frames, want
}

// runFake runs src against dev until want AUs arrived (then cancels) or
// Run ends by itself, and returns what came out and Run's error.
func runFake(t *testing.T, src *V4L2, dev *fakeDevice, want int) ([]segment.AU, error) {
	t.Helper()
	src.Open = dev.open
	if src.Logger == nil {
		src.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []segment.AU
	err := src.Run(ctx, func(au segment.AU) {
		got = append(got, au)
		if len(got) == want {
			cancel()
		}
	})
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run did not finish: %d of %d AUs", len(got), want)
	}
	return got, err
}

// checkReleased asserts that the device was given back in order: streaming
// stopped, every buffer unmapped and freed, the node closed.
func checkReleased(t *testing.T, dev *fakeDevice, mapped int) {
	t.Helper()
	if dev.streaming {
		t.Errorf("still streaming: no VIDIOC_STREAMOFF")
	}
	if dev.unmapped != mapped {
		t.Errorf("unmapped %d buffers, want %d", dev.unmapped, mapped)
	}
	if mapped > 0 && (len(dev.bufs) != 0 || dev.calls[len(dev.calls)-1] != "VIDIOC_REQBUFS") {
		t.Errorf("buffers not freed with VIDIOC_REQBUFS count=0 at the end; calls %v", dev.calls)
	}
	if !dev.closed {
		t.Errorf("device not closed")
	}
}

func TestV4L2H264(t *testing.T) {
	const n = 40
	frames, want := cameraFrames(t, n, 1000*time.Second)
	dev := newFakeDevice(frames...)
	src := V4L2{Width: 1280, Height: 720, FPS: 30, Bitrate: 16000000, IPeriod: 30, Rotation: 180, HFlip: true}
	got, err := runFake(t, &src, dev, n)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if len(got) != n {
		t.Fatalf("got %d AUs, want %d", len(got), n)
	}
	for i := range got {
		if !bytes.Equal(got[i].Data, want[i].Data) {
			t.Errorf("AU %d: %d bytes differ from the clip's %d (header glued to the first?)", i, len(got[i].Data), len(want[i].Data))
		}
		if got[i].Time != want[i].Time {
			t.Errorf("AU %d Time = %v, want %v (the buffer's timestamp)", i, got[i].Time, want[i].Time)
		}
		if got[i].Key != want[i].Key {
			t.Errorf("AU %d Key = %v, want %v", i, got[i].Key, want[i].Key)
		}
	}
	if f := dev.format; f.PixelFormat != fourcc("H264") || f.Width != 1280 || f.Height != 720 {
		t.Errorf("format = %s %dx%d, want H264 1280x720", fourccString(f.PixelFormat), f.Width, f.Height)
	}
	if dev.fps != 30 {
		t.Errorf("fps = %d, want 30", dev.fps)
	}
	for id, want := range map[uint32]int32{cidBitrate: 16000000, cidH264IPeriod: 30, cidRepeatSeqHeader: 1, cidRotate: 180, cidHFlip: 1, cidVFlip: 0} {
		if dev.ctrls[id] != want {
			t.Errorf("control %#x = %d, want %d", id, dev.ctrls[id], want)
		}
	}
	// 4 buffers for 41 buffers of data: each one went round several times.
	for i := range uint32(4) {
		if dev.dequeued[i] < 5 {
			t.Errorf("buffer %d dequeued %d times, want >= 5 (buffers not cycled)", i, dev.dequeued[i])
		}
	}
	checkReleased(t, dev, 4)

	// The AUs are real H.264: segments of them decode.
	var all []byte
	for _, au := range got {
		all = append(all, au.Data...)
	}
	if frames := ffprobeFrames(t, all); frames != n {
		t.Errorf("ffprobe decoded %d frames, want %d", frames, n)
	}
}

func TestV4L2Rejects(t *testing.T) {
	tests := []struct {
		name     string
		src      V4L2
		is       error
		contains string
	}{
		{"fps above the driver's 90", V4L2{FPS: 120}, ErrInvalid, "fps=120"},
		{"a format the camera lacks", V4L2{Format: "MJPG", Width: 640, Height: 480}, ErrUnsupported, "MJPG (it offers YU12)"},
		{"rotation not a multiple of 90", V4L2{Rotation: 45}, nil, "rotation 45"},
		{"fourcc of the wrong length", V4L2{Format: "H26"}, nil, `"H26"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev := newFakeDevice()
			_, err := runFake(t, &tt.src, dev, 1)
			if err == nil {
				t.Fatalf("Run = nil, want an error")
			}
			t.Logf("Run = %v", err)
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Run = %v, want it to wrap %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.contains) || !strings.Contains(err.Error(), "/dev/video0") {
				t.Errorf("Run = %q, want it to name %q and the device", err, tt.contains)
			}
			checkReleased(t, dev, 0)
		})
	}
}

func TestV4L2Adjusted(t *testing.T) {
	var logs syncbuf.Buffer
	frames, _ := cameraFrames(t, 1, 0)
	dev := newFakeDevice(frames...)
	src := V4L2{Bitrate: 16010000, Width: 4000, Height: 3000, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	if _, err := runFake(t, &src, dev, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if dev.ctrls[cidBitrate] != 16000000 {
		t.Errorf("bitrate = %d, want 16000000 (rounded to the 25k step)", dev.ctrls[cidBitrate])
	}
	for _, want := range []string{"control=bitrate want=16010000 got=16000000", "want=4000x3000 got=3280x2464"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

// TestV4L2Raw is the mode used with the vivid driver: raw frames come out
// whole, each a "keyframe", and no encoder control is touched.
func TestV4L2Raw(t *testing.T) {
	var frames []fakeFrame
	for i := range 6 {
		frames = append(frames, fakeFrame{data: bytes.Repeat([]byte{byte(i)}, 640*480*2), time: time.Duration(i+1) * time.Second})
	}
	frames[2].noMono = true // a driver that does not say its clock: stamped with Now
	frames[3].corrupt = true
	dev := newFakeDevice(frames...)
	var logs syncbuf.Buffer
	src := V4L2{Format: "YUYV", Width: 640, Height: 480, Now: func() time.Duration { return 42 * time.Second },
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	got, err := runFake(t, &src, dev, 5)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	wantTimes := []time.Duration{1 * time.Second, 2 * time.Second, 42 * time.Second, 5 * time.Second, 6 * time.Second}
	for i, au := range got {
		if au.Time != wantTimes[i] || !au.Key || len(au.Data) != 640*480*2 {
			t.Errorf("frame %d: time %v key %v %d bytes, want %v true %d", i, au.Time, au.Key, len(au.Data), wantTimes[i], 640*480*2)
		}
	}
	if !strings.Contains(logs.String(), "corrupt") {
		t.Errorf("the corrupt buffer was not logged:\n%s", logs.String())
	}
	for _, id := range dev.ctrlsSet {
		if id == cidBitrate || id == cidRepeatSeqHeader || id == cidRotate || id == cidHFlip {
			t.Errorf("raw mode set control %#x", id)
		}
	}
	checkReleased(t, dev, 4)
}

func TestV4L2Unplugged(t *testing.T) {
	frames, _ := cameraFrames(t, 3, 0)
	frames = append(frames, fakeFrame{vanishing: true})
	dev := newFakeDevice(frames...)
	got, err := runFake(t, &V4L2{}, dev, 100)
	if !errors.Is(err, ErrNoDevice) {
		t.Errorf("Run = %v, want ErrNoDevice", err)
	}
	if len(got) != 3 {
		t.Errorf("got %d AUs before the device vanished, want 3", len(got))
	}
	if dev.unmapped != 4 || !dev.closed {
		t.Errorf("after unplug: unmapped %d of 4, closed %v", dev.unmapped, dev.closed)
	}
}

// TestProbeV4L2 streams from a real V4L2 device when there is one (the
// vivid test driver in a VM, or a camera); ProbeV4L2 is what the QEMU
// tests run in the guest.
func TestProbeV4L2(t *testing.T) {
	dev := os.Getenv("CAMWIRE_V4L2_DEVICE")
	if dev == "" {
		matches, _ := filepath.Glob("/sys/class/video4linux/video*/name")
		for _, m := range matches {
			name, _ := os.ReadFile(m)
			if strings.HasPrefix(string(name), "vivid") {
				dev = "/dev/" + filepath.Base(filepath.Dir(m))
				break
			}
		}
	}
	if dev == "" {
		t.Skip("no vivid device (modprobe vivid) and CAMWIRE_V4L2_DEVICE unset: the QEMU test covers a real kernel")
	}
	ts, err := ProbeV4L2(context.Background(), dev, 10)
	if err != nil {
		t.Fatalf("ProbeV4L2(%s) = %v", dev, err)
	}
	for i := 1; i < len(ts); i++ {
		if ts[i] <= ts[i-1] {
			t.Errorf("timestamp %d = %v, not after %v", i, ts[i], ts[i-1])
		}
	}
	if now := Monotonic(); ts[len(ts)-1] > now || now-ts[len(ts)-1] > time.Minute {
		t.Errorf("last timestamp %v is not on CLOCK_MONOTONIC (now %v)", ts[len(ts)-1], now)
	}
}
