package capture

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/camwire/camwire/internal/syncbuf"
)

// TestV4L2ControlsDegrade makes the fake driver reject each control in
// turn, in each way a driver can: capture goes on, the warning names the
// control and what happened, and the control ends where the driver can
// have it (clamped, or the driver's own value).
func TestV4L2ControlsDegrade(t *testing.T) {
	tests := []struct {
		name   string
		src    V4L2
		dev    func(d *fakeDevice)
		id     uint32
		want   int32    // the control's value at the end
		warned []string // in the log
	}{
		{"rotate rejected at 0", V4L2{}, func(d *fakeDevice) { d.reject[cidRotate] = true }, cidRotate, 0,
			[]string{"driver rejected a control at its default; left as the driver has it", "control=rotate", "VIDIOC_S_CTRL rotate=0"}},
		{"hflip rejected at 0", V4L2{}, func(d *fakeDevice) { d.reject[cidHFlip] = true }, cidHFlip, 0,
			[]string{"at its default", "control=hflip", "VIDIOC_S_CTRL hflip=0"}},
		{"vflip rejected at 0", V4L2{}, func(d *fakeDevice) { d.reject[cidVFlip] = true }, cidVFlip, 0,
			[]string{"at its default", "control=vflip", "VIDIOC_S_CTRL vflip=0"}},
		{"bitrate above 25 Mbit/s", V4L2{Bitrate: 30000000}, nil, cidBitrate, 25000000,
			[]string{"driver rejected a control; clamped to its range", "control=bitrate want=30000000 got=25000000 min=25000 max=25000000 step=25000"}},
		{"bitrate below 25 kbit/s", V4L2{Bitrate: 1000}, nil, cidBitrate, 25000,
			[]string{"clamped to its range", "control=bitrate want=1000 got=25000"}},
		{"bitrate off-step above the maximum", V4L2{Bitrate: 25010000},
			func(d *fakeDevice) { d.limits[cidBitrate] = ctrlRange{25000, 25010000 - 1, 25000, 0} }, cidBitrate, 25000000,
			[]string{"clamped to its range", "want=25010000 got=25000000"}},
		{"bitrate rejected, no range", V4L2{Bitrate: 30000000}, func(d *fakeDevice) { d.noQuery = true }, cidBitrate, 10000000,
			[]string{"gives no range for it; the driver's value stays", "control=bitrate want=30000000", "VIDIOC_QUERYCTRL bitrate"}},
		{"bitrate rejected inside its range", V4L2{Bitrate: 16000000}, func(d *fakeDevice) { d.reject[cidBitrate] = true }, cidBitrate, 10000000,
			[]string{"inside its own range; the driver's value stays", "control=bitrate want=16000000 min=25000 max=25000000"}},
		{"bitrate clamped and rejected again", V4L2{Bitrate: 30000000}, func(d *fakeDevice) { d.reject[cidBitrate] = true }, cidBitrate, 10000000,
			[]string{"and its clamped value too; the driver's value stays", "want=30000000 clamped=25000000"}},
		{"I-period above the maximum", V4L2{IPeriod: 1000}, func(d *fakeDevice) { d.limits[cidH264IPeriod] = ctrlRange{1, 250, 1, 0} }, cidH264IPeriod, 250,
			[]string{"clamped to its range", "control=h264_i_period want=1000 got=250 min=1 max=250 step=1"}},
		{"I-period read-only", V4L2{IPeriod: 30}, func(d *fakeDevice) {
			d.reject[cidH264IPeriod] = true
			d.limits[cidH264IPeriod] = ctrlRange{0, 1<<31 - 1, 1, ctrlFlagReadOnly}
		}, cidH264IPeriod, 60,
			[]string{"cannot set now; the driver's value stays", "control=h264_i_period want=30 flags=0x4"}},
		{"repeat_seq_header rejected", V4L2{}, func(d *fakeDevice) { d.reject[cidRepeatSeqHeader] = true }, cidRepeatSeqHeader, 0,
			[]string{"control not set", "control=repeat_seq_header"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n = 5
			frames, _ := cameraFrames(t, n, 0)
			dev := newFakeDevice(frames...)
			if tt.dev != nil {
				tt.dev(dev)
			}
			var logs syncbuf.Buffer
			tt.src.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			got, err := runFake(t, &tt.src, dev, n)
			if !errors.Is(err, context.Canceled) || len(got) != n {
				t.Fatalf("Run = %v after %d of %d AUs, want capture to go on until cancelled\n%s", err, len(got), n, logs.String())
			}
			for _, w := range tt.warned {
				if !strings.Contains(logs.String(), w) {
					t.Errorf("log lacks %q:\n%s", w, logs.String())
				}
			}
			if !strings.Contains(logs.String(), "level=WARN") {
				t.Errorf("no warning logged:\n%s", logs.String())
			}
			if dev.ctrls[tt.id] != tt.want {
				t.Errorf("control %#x = %d at the end, want %d", tt.id, dev.ctrls[tt.id], tt.want)
			}
			checkReleased(t, dev, 4)
		})
	}
}

// TestV4L2FlipAskedRejected: a rotation or flip the user asked for and
// the driver refuses is an error naming it, not a recording the wrong
// way round.
func TestV4L2FlipAskedRejected(t *testing.T) {
	tests := []struct {
		name     string
		src      V4L2
		id       uint32
		contains string
	}{
		{"rotate 90", V4L2{Rotation: 90}, cidRotate, "VIDIOC_S_CTRL rotate=90"},
		{"hflip", V4L2{HFlip: true}, cidHFlip, "VIDIOC_S_CTRL hflip=1"},
		{"vflip", V4L2{VFlip: true}, cidVFlip, "VIDIOC_S_CTRL vflip=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev := newFakeDevice()
			dev.reject[tt.id] = true
			_, err := runFake(t, &tt.src, dev, 1)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.contains) {
				t.Fatalf("Run = %v, want ErrInvalid naming %q", err, tt.contains)
			}
			checkReleased(t, dev, 0)
		})
	}
}

func TestClampStep(t *testing.T) {
	tests := []struct{ value, lo, hi, step, want int }{
		{30000000, 25000, 25000000, 25000, 25000000},
		{1000, 25000, 25000000, 25000, 25000},
		{16010000, 25000, 25000000, 25000, 16000000},
		{16020000, 25000, 25000000, 25000, 16025000}, // nearest step, as v4l2-ctrls rounds
		{100, 0, 95, 10, 90},                         // the top step past hi is not taken
		{-5, 0, 1, 1, 0},
	}
	for _, tt := range tests {
		if got := clampStep(tt.value, tt.lo, tt.hi, tt.step); got != tt.want {
			t.Errorf("clampStep(%d, %d, %d, %d) = %d, want %d", tt.value, tt.lo, tt.hi, tt.step, got, tt.want)
		}
	}
}
