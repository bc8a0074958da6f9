package rtsp

import (
	"bytes"
	"fmt"
	"time"

	"github.com/bluenviron/gortsplib/v5/pkg/description"
	"github.com/bluenviron/gortsplib/v5/pkg/format"
	"github.com/bluenviron/gortsplib/v5/pkg/format/rtph264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"

	"github.com/camwire/camwire/wire"
)

// MaxPayload is the largest RTP payload sent. MediaMTX repacketises,
// and logs "RTP packets are too big (1450 > 1440)", anything over its
// udpMaxPayloadSize (1452) less the 12-byte RTP header; gortsplib's
// default is 1450. 1400 leaves room for RTSP-over-TCP framing and
// tunnels too.
const MaxPayload = 1400

// clockRate is H.264's RTP clock (RFC 6184).
const clockRate = 90000

// Clock maps a frame's capture time on the camera's monotonic clock
// (wire.Frame.TimeUS) to wall-clock time, for the NTP time of RTCP
// sender reports. arrived is when the receiver got the frame. A zero
// result means unknown: the arrival of the run's first frame is used.
type Clock func(camera string, h wire.Hello, timeUS int64, arrived time.Time) time.Time

// frame is one queued access unit, its payload copied out of the
// receiver's buffer (which is only valid during OnFrame).
type frame struct {
	hello   wire.Hello
	timeUS  int64
	key     bool
	arrived time.Time
	payload []byte
}

// track turns one camera's frames into RTP packets. RTP time follows the
// camera's capture times; a new sender run (another StreamID, so another
// monotonic clock) continues one frame after the last timestamp so
// readers see one unbroken stream.
type track struct {
	camera string
	clock  Clock
	format *format.H264
	media  *description.Media
	enc    *rtph264.Encoder

	run       [wire.StreamIDLen]byte
	started   bool
	runUS     int64     // TimeUS of the run's first frame
	runTS     uint32    // RTP time of the run's first frame
	runWall   time.Time // arrival of the run's first frame (default clock)
	lastTS    uint32
	frameTick uint32 // one frame in RTP ticks, from the hello's rate
}

func newTrack(camera string, clock Clock) (*track, error) {
	f := &format.H264{PayloadTyp: 96, PacketizationMode: 1}
	enc := &rtph264.Encoder{PayloadType: 96, PacketizationMode: 1, PayloadMaxSize: MaxPayload}
	if err := enc.Init(); err != nil {
		return nil, fmt.Errorf("RTP H.264 encoder: %w", err)
	}
	return &track{
		camera: camera,
		clock:  clock,
		format: f,
		media:  &description.Media{Type: description.MediaTypeVideo, Formats: []format.Format{f}},
		enc:    enc,
	}, nil
}

// params reports whether the track knows its SPS and PPS, without which
// no SDP can be written.
func (t *track) params() bool {
	sps, pps := t.format.SafeParams()
	return sps != nil && pps != nil
}

// packets returns fr's access unit as RTP packets with the wall-clock
// time of its capture, and whether its SPS or PPS changed (the SDP must
// then be reloaded). A keyframe without in-band SPS/PPS gets the known
// ones in front, so a reader that joins at it can decode.
func (t *track) packets(fr frame) (pkts []*rtp.Packet, ntp time.Time, changed bool, err error) {
	au, changed, err := t.parse(fr)
	if err != nil {
		return nil, time.Time{}, false, err
	}
	ts := t.timestamp(fr)
	pkts, err = t.enc.Encode(au)
	if err != nil {
		return nil, time.Time{}, changed, fmt.Errorf("RTP packetisation: %w", err)
	}
	for _, p := range pkts {
		p.Timestamp = ts
	}
	if t.clock != nil {
		ntp = t.clock(t.camera, fr.hello, fr.timeUS, fr.arrived)
	}
	if ntp.IsZero() { // no clock, or it does not know this camera's
		ntp = t.runWall.Add(time.Duration(fr.timeUS-t.runUS) * time.Microsecond)
	}
	return pkts, ntp, changed, nil
}

// observe learns fr's SPS/PPS without sending it.
func (t *track) observe(fr frame) { t.parse(fr) }

// parse splits fr into NAL units, learns its SPS/PPS (changed: they are
// new) and puts the known ones in front of a keyframe that lacks them.
func (t *track) parse(fr frame) (au h264.AnnexB, changed bool, err error) {
	if err := au.Unmarshal(fr.payload); err != nil {
		return nil, false, fmt.Errorf("frame is not Annex-B H.264: %w", err)
	}
	var sps, pps []byte
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			sps = n
		case h264.NALUTypePPS:
			pps = n
		}
	}
	oldSPS, oldPPS := t.format.SafeParams()
	if (sps != nil && !bytes.Equal(sps, oldSPS)) || (pps != nil && !bytes.Equal(pps, oldPPS)) {
		if sps == nil {
			sps = oldSPS
		}
		if pps == nil {
			pps = oldPPS
		}
		t.format.SafeSetParams(bytes.Clone(sps), bytes.Clone(pps))
		changed = true
	}
	if fr.key && sps == nil && oldSPS != nil && oldPPS != nil {
		au = append([][]byte{oldSPS, oldPPS}, au...)
	}
	return au, changed, nil
}

// timestamp is fr's RTP time; see track.
func (t *track) timestamp(fr frame) uint32 {
	if !t.started || fr.hello.StreamID != t.run || fr.timeUS < t.runUS {
		if fr.hello.FPSNum > 0 && fr.hello.FPSDen > 0 {
			t.frameTick = uint32(uint64(clockRate) * uint64(fr.hello.FPSDen) / uint64(fr.hello.FPSNum))
		}
		if t.frameTick == 0 {
			t.frameTick = clockRate / 30
		}
		if t.started {
			t.runTS = t.lastTS + t.frameTick
		}
		t.started = true
		t.run = fr.hello.StreamID
		t.runUS = fr.timeUS
		t.runWall = fr.arrived
	}
	t.lastTS = t.runTS + uint32((fr.timeUS-t.runUS)*clockRate/1e6)
	return t.lastTS
}
