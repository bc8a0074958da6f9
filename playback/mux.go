package playback

import (
	"bytes"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/pmp4"
)

// muxFMP4 writes samples as a fragmented MP4: the first segment's init,
// then one fragment per GOP.
func muxFMP4(seg *segment, samples []timed) ([]byte, error) {
	tr := seg.init.Tracks[0]
	init := fmp4.Init{Tracks: []*fmp4.InitTrack{{ID: tr.ID, TimeScale: tr.TimeScale, Codec: tr.Codec}}}
	var buf seekablebuffer.Buffer
	if err := init.Marshal(&buf); err != nil {
		return nil, fmt.Errorf("init segment: %w", err)
	}
	out := bytes.NewBuffer(buf.Bytes())
	seq := uint32(1)
	for i := 0; i < len(samples); {
		j := i + 1
		for j < len(samples) && !samples[j].key {
			j++
		}
		pt := &fmp4.PartTrack{ID: tr.ID, BaseTime: uint64(samples[i].ticks)}
		for _, x := range samples[i:j] {
			pt.Samples = append(pt.Samples, &fmp4.Sample{Duration: x.duration, PTSOffset: x.ptsOff,
				IsNonSyncSample: !x.key, Payload: x.payload})
		}
		var pb seekablebuffer.Buffer
		if err := (&fmp4.Part{SequenceNumber: seq, Tracks: []*fmp4.PartTrack{pt}}).Marshal(&pb); err != nil {
			return nil, fmt.Errorf("fragment %d: %w", seq, err)
		}
		out.Write(pb.Bytes())
		seq++
		i = j
	}
	return out.Bytes(), nil
}

// muxMP4 writes samples as a plain MP4 with one moov indexing every
// sample, which any player seeks in.
func muxMP4(seg *segment, samples []timed) ([]byte, error) {
	tr := seg.init.Tracks[0]
	t := &pmp4.Track{ID: tr.ID, TimeScale: tr.TimeScale, Codec: tr.Codec}
	for _, x := range samples {
		p := x.payload
		t.Samples = append(t.Samples, &pmp4.Sample{Duration: x.duration, PTSOffset: x.ptsOff,
			IsNonSyncSample: !x.key, PayloadSize: uint32(len(p)),
			GetPayload: func() ([]byte, error) { return p, nil }})
	}
	var out bytes.Buffer
	if err := (pmp4.Presentation{Tracks: []*pmp4.Track{t}}).Marshal(&out); err != nil {
		return nil, fmt.Errorf("mp4: %w", err)
	}
	return out.Bytes(), nil
}
