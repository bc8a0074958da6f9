package recorder

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/camwire/camwire/camconsole"
	"github.com/camwire/camwire/capture"
	"github.com/camwire/camwire/config"
	"github.com/camwire/camwire/segment"
	"github.com/camwire/camwire/sender"
	"github.com/camwire/camwire/wire"
)

// DeviceWait is how often the recorder looks again for a missing camera
// device. The kernel may bind the camera driver late (vchiq, then its
// MMAL layer, then bcm2835-v4l2), or never; either way the recorder
// stays up, connected, in the error state, so the receiver hears why.
const DeviceWait = time.Second

// capture runs src until ctx ends or it fails for good. When the V4L2
// device does not exist it does not fail: it says why, in words from the
// kernel log (Recorder.reason), on the console and to the receiver, shows
// the error state and waits for the device to appear.
func (r *Recorder) capture(ctx context.Context, src capture.Source, s *sender.Sender, log *slog.Logger, emit func(segment.AU)) error {
	said := ""
	for {
		err := src.Run(ctx, emit)
		if ctx.Err() != nil || r.Config.Source != config.SourceV4L2 || !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		dev := r.Config.Device
		if _, serr := os.Stat(dev); serr == nil {
			return err // it is there: something else was missing
		}
		if why := r.reason(); why != said {
			said = why
			r.setFailed(true)
			r.println(camconsole.CameraPrefix + why)
			log.Error("camera missing", "device", dev, "reason", why)
			s.Log(wire.LevelError, "camera: "+why)
		}
		t := time.NewTicker(DeviceWait)
		for {
			_, serr := os.Stat(dev)
			if serr == nil {
				break
			}
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
		t.Stop()
		r.setFailed(false)
		r.println(camconsole.CameraPrefix + dev + " appeared; starting capture")
		s.Log(wire.LevelInfo, "camera: "+dev+" appeared; starting capture")
	}
}

// reason names why the camera device is missing.
func (r *Recorder) reason() string {
	g := r.Hardware
	g.Video = r.Config.Device
	return g.MissingVideo()
}
