package capture

import (
	"errors"
	"fmt"
	"unsafe"
)

// ctrlKind says what a control is for, and so what a rejection costs.
type ctrlKind int

const (
	// ctrlCamera: rotate and flips. They are set even at 0, because the
	// driver keeps them from the last user; a driver that rejects 0
	// (it has no such control, or a fixed sensor) is left as it is. A
	// rejected non-zero value is an error: the picture would not be the
	// one asked for.
	ctrlCamera ctrlKind = iota
	// ctrlEncoder: bitrate and keyframe period. A rejected value is
	// clamped to the range VIDIOC_QUERYCTRL reports and set again; if
	// that fails too, the driver's own value stays. Never fatal: a
	// recording at another bitrate beats none.
	ctrlEncoder
	// ctrlOptional: failing costs nothing (logged).
	ctrlOptional
)

// setControls sets the encoder and camera controls. In H.264 mode the
// camera controls are always set, because the driver keeps them from the
// last user; bitrate and keyframe period only when asked for. A control
// the driver rejects degrades the capture (with a warning naming it)
// rather than ending it, except a rotation or flip that was asked for.
func (s *stream) setControls() error {
	v := s.v
	type ctrl struct {
		name  string
		id    uint32
		value int
		set   bool // set it (else leave the driver's value)
		kind  ctrlKind
	}
	b2i := func(b bool) int {
		if b {
			return 1
		}
		return 0
	}
	switch v.Rotation {
	case 0, 90, 180, 270:
	default:
		return fmt.Errorf("rotation %d: want 0, 90, 180 or 270", v.Rotation)
	}
	ctrls := []ctrl{
		{"rotate", cidRotate, v.Rotation, s.h264 || v.Rotation != 0, ctrlCamera},
		{"hflip", cidHFlip, b2i(v.HFlip), s.h264 || v.HFlip, ctrlCamera},
		{"vflip", cidVFlip, b2i(v.VFlip), s.h264 || v.VFlip, ctrlCamera},
	}
	if s.h264 {
		ctrls = append(ctrls,
			ctrl{"bitrate", cidBitrate, v.Bitrate, v.Bitrate != 0, ctrlEncoder},
			ctrl{"h264_i_period", cidH264IPeriod, v.IPeriod, v.IPeriod != 0, ctrlEncoder},
			// SPS/PPS in front of every keyframe; without it the segmenter
			// still puts them there, so failing is not fatal.
			ctrl{"repeat_seq_header", cidRepeatSeqHeader, 1, true, ctrlOptional},
		)
	}
	for _, c := range ctrls {
		if !c.set {
			continue
		}
		if c.value < -1<<31 || c.value > 1<<31-1 {
			return fmt.Errorf("%s=%d: out of range for a 32-bit control", c.name, c.value)
		}
		got, err := s.setCtrl(c.name, c.id, c.value)
		switch {
		case err == nil:
			if got != c.value {
				// Integer controls are clamped and rounded to their step.
				s.log.Warn("driver adjusted a control", "control", c.name, "want", c.value, "got", got)
			}
			continue
		case errors.Is(err, ErrNoDevice):
			return err // the device is gone: nothing after this works either
		}
		switch c.kind {
		case ctrlCamera:
			if c.value != 0 {
				return err
			}
			s.log.Warn("driver rejected a control at its default; left as the driver has it", "control", c.name, "err", err)
		case ctrlEncoder:
			s.clampCtrl(c.name, c.id, c.value, err)
		default:
			s.log.Warn("control not set", "control", c.name, "err", err)
		}
	}
	return nil
}

// setCtrl sets one control and returns the value the driver wrote back.
func (s *stream) setCtrl(name string, id uint32, value int) (int, error) {
	arg := v4l2Control{ID: id, Value: int32(value)}
	err := s.ioctl(vidiocSCtrl, fmt.Sprintf("%s=%d", name, value), unsafe.Pointer(&arg))
	return int(arg.Value), err
}

// clampCtrl handles an encoder control the driver rejected (rejected is
// its error): it asks the driver for the control's range and step,
// clamps value into it and sets that, warning with both numbers. When
// the driver gives no range, or rejects the clamped value as well, the
// driver's own value stays and the warning says why.
func (s *stream) clampCtrl(name string, id uint32, value int, rejected error) {
	q := v4l2QueryCtrl{ID: id}
	if err := s.ioctl(vidiocQueryCtrl, name, unsafe.Pointer(&q)); err != nil {
		s.log.Warn("driver rejected a control and gives no range for it; the driver's value stays",
			"control", name, "want", value, "err", rejected, "query_err", err)
		return
	}
	if q.Flags&(ctrlFlagDisabled|ctrlFlagReadOnly|ctrlFlagInactive) != 0 {
		s.log.Warn("driver rejected a control it cannot set now; the driver's value stays",
			"control", name, "want", value, "flags", fmt.Sprintf("%#x", q.Flags), "err", rejected)
		return
	}
	lo, hi, step := int(q.Minimum), int(q.Maximum), max(int(q.Step), 1)
	c := clampStep(value, lo, hi, step)
	if c == value {
		s.log.Warn("driver rejected a control inside its own range; the driver's value stays",
			"control", name, "want", value, "min", lo, "max", hi, "step", step, "err", rejected)
		return
	}
	got, err := s.setCtrl(name, id, c)
	if err != nil {
		s.log.Warn("driver rejected a control, and its clamped value too; the driver's value stays",
			"control", name, "want", value, "clamped", c, "err", rejected, "clamp_err", err)
		return
	}
	s.log.Warn("driver rejected a control; clamped to its range", "control", name,
		"want", value, "got", got, "min", lo, "max", hi, "step", step, "err", rejected)
}

// clampStep is value forced into [lo, hi] on the grid lo + k*step, as
// v4l2-ctrls rounds integer controls (to the nearest step, halves up),
// and never past hi.
func clampStep(value, lo, hi, step int) int {
	v := min(max(value, lo), hi)
	v = lo + (v-lo+step/2)/step*step
	for v > hi {
		v -= step
	}
	return v
}
