package mp4

import (
	"bytes"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
)

// TestFragmentAsMediacommon: Fragment (FragmentHeader + the samples)
// writes byte for byte what mediacommon's fmp4.Part.Marshal writes, for
// key and non-key samples, with and without composition offsets.
func TestFragmentAsMediacommon(t *testing.T) {
	key := TimedSample{Sample: Sample{Key: true, AVCC: []byte{0, 0, 0, 2, 0x65, 0x88}}, Duration: 3000}
	p := TimedSample{Sample: Sample{AVCC: []byte{0, 0, 0, 3, 0x41, 0x9a, 0x01}}, Duration: 3000}
	bref := TimedSample{Sample: Sample{PTSOffset: 6000, AVCC: []byte{0, 0, 0, 1, 0x01}}, Duration: 2999}
	for _, tc := range []struct {
		name    string
		samples []TimedSample
	}{
		{"one key", []TimedSample{key}},
		{"key and P", []TimedSample{key, p, p}},
		{"B-frames", []TimedSample{key, bref, p, bref}},
		{"only non-key", []TimedSample{p, bref}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			track := &fmp4.PartTrack{ID: trackID, BaseTime: 123456789}
			for _, s := range tc.samples {
				track.Samples = append(track.Samples, &fmp4.Sample{Duration: s.Duration, PTSOffset: s.PTSOffset,
					IsNonSyncSample: !s.Key, Payload: s.AVCC})
			}
			var want seekablebuffer.Buffer
			if err := (fmp4.Part{SequenceNumber: 7, Tracks: []*fmp4.PartTrack{track}}).Marshal(&want); err != nil {
				t.Fatal(err)
			}
			got, err := Fragment(7, 123456789, tc.samples)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Errorf("Fragment =\n%x\nmediacommon =\n%x", got, want.Bytes())
			}
		})
	}
}
