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
	// A second of a B-frame stream: a key in the middle, big samples.
	var gop []TimedSample
	for i := range 30 {
		s := TimedSample{Sample: Sample{Key: i == 12, PTSOffset: int32(i%3) * 3000, AVCC: make([]byte, 100+997*i)}, Duration: 3000 + uint32(i%2)}
		gop = append(gop, s)
	}
	for _, tc := range []struct {
		name    string
		samples []TimedSample
	}{
		{"one key", []TimedSample{key}},
		{"key and P", []TimedSample{key, p, p}},
		{"B-frames", []TimedSample{key, bref, p, bref}},
		{"only non-key", []TimedSample{p, bref}},
		{"a second", gop},
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
			// The writer's form: sizes given apart from the samples.
			sizes := make([]uint32, len(tc.samples))
			bare := make([]TimedSample, len(tc.samples))
			for i, s := range tc.samples {
				sizes[i] = uint32(len(s.AVCC))
				bare[i] = s
				bare[i].AVCC = nil
			}
			head, err := fragmentHeader([]byte("dst"), 7, 123456789, bare, sizes)
			if err != nil {
				t.Fatal(err)
			}
			if wantHead := append([]byte("dst"), got[:len(got)-sumLen(tc.samples)]...); !bytes.Equal(head, wantHead) {
				t.Errorf("fragmentHeader with sizes =\n%x\nwant\n%x", head, wantHead)
			}
		})
	}
}

func sumLen(samples []TimedSample) int {
	n := 0
	for _, s := range samples {
		n += len(s.AVCC)
	}
	return n
}
