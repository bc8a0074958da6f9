package playback

import (
	"fmt"
	"io"
	"os"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/pmp4"
)

// files opens the recordings samples come from, in one camera's folder.
type files struct {
	root *os.Root
	open map[string]*os.File
}

func (f *files) payload(x timed) ([]byte, error) {
	fh, ok := f.open[x.seg.name]
	if !ok {
		var err error
		if fh, err = f.root.Open(x.seg.name); err != nil {
			return nil, err
		}
		f.open[x.seg.name] = fh
	}
	b := make([]byte, x.size)
	if _, err := fh.ReadAt(b, x.off); err != nil {
		return nil, fmt.Errorf("%s: frame at byte %d: %w", x.seg.name, x.off, err)
	}
	return b, nil
}

func (f *files) close() {
	for _, fh := range f.open {
		fh.Close()
	}
	f.root.Close()
}

// muxFMP4 writes samples as a fragmented MP4: the first segment's init,
// then one fragment per GOP, read from the recordings one GOP at a time.
func muxFMP4(w io.Writer, src *files, seg *segment, samples []timed) error {
	tr := seg.init.Tracks[0]
	init := fmp4.Init{Tracks: []*fmp4.InitTrack{{ID: tr.ID, TimeScale: tr.TimeScale, Codec: tr.Codec}}}
	var buf seekablebuffer.Buffer
	if err := init.Marshal(&buf); err != nil {
		return fmt.Errorf("init segment: %w", err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return err
	}
	seq := uint32(1)
	for i := 0; i < len(samples); {
		j := i + 1
		for j < len(samples) && !samples[j].key {
			j++
		}
		pt := &fmp4.PartTrack{ID: tr.ID, BaseTime: uint64(samples[i].ticks)}
		for _, x := range samples[i:j] {
			p, err := src.payload(x)
			if err != nil {
				return err
			}
			pt.Samples = append(pt.Samples, &fmp4.Sample{Duration: x.duration, PTSOffset: x.ptsOff,
				IsNonSyncSample: !x.key, Payload: p})
		}
		var pb seekablebuffer.Buffer
		if err := (&fmp4.Part{SequenceNumber: seq, Tracks: []*fmp4.PartTrack{pt}}).Marshal(&pb); err != nil {
			return fmt.Errorf("fragment %d: %w", seq, err)
		}
		if _, err := w.Write(pb.Bytes()); err != nil {
			return err
		}
		seq++
		i = j
	}
	return nil
}

// muxMP4 writes samples as a plain MP4 whose moov, first in the file,
// indexes every sample, so any player seeks in it. mediacommon writes
// the moov from sizes alone and then reads each payload as it writes the
// mdat, so the file streams out without being held in memory.
func muxMP4(w io.Writer, src *files, seg *segment, samples []timed) error {
	tr := seg.init.Tracks[0]
	t := &pmp4.Track{ID: tr.ID, TimeScale: tr.TimeScale, Codec: tr.Codec}
	for _, x := range samples {
		t.Samples = append(t.Samples, &pmp4.Sample{Duration: x.duration, PTSOffset: x.ptsOff,
			IsNonSyncSample: !x.key, PayloadSize: x.size,
			GetPayload: func() ([]byte, error) { return src.payload(x) }})
	}
	if err := (pmp4.Presentation{Tracks: []*pmp4.Track{t}}).Marshal(w); err != nil {
		return fmt.Errorf("mp4: %w", err)
	}
	return nil
}
