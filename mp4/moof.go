package mp4

import (
	"encoding/binary"
	"fmt"
	"math"

	amp4 "github.com/abema/go-mp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
)

// trun flags and sample flags, as ISO/IEC 14496-12 8.8.8 and 8.8.3.1
// define them (and mediacommon's fmp4 writes them).
const (
	trunDataOffset   = 0x01
	trunDuration     = 0x100
	trunSize         = 0x200
	trunFlags        = 0x400
	trunCTOffset     = 0x800
	sampleNonSync    = 1 << 16
	tfhdDefaultBase  = 0x020000 // default-base-is-moof
	mdatHeaderLength = 8
)

// FragmentHeader appends to dst the moof of one fragment holding samples
// (contiguous, the first at baseTime) and the header of the mdat after
// it. The mdat's payload is the samples' AVCC back to back, which the
// caller writes from wherever it already is.
//
// mediacommon's fmp4.Part.Marshal writes the same boxes, but it copies
// every payload into a fresh mdat and that again into its growing buffer:
// three copies and two fragment-sized allocations per fragment, most of
// the MP4 sink's CPU on real video (see BenchmarkSink). The boxes here
// are go-mp4's, field for field as mediacommon fills them; a test
// compares the bytes with mediacommon's.
func FragmentHeader(dst []byte, seq uint32, baseTime uint64, samples []TimedSample) ([]byte, error) {
	return fragmentHeader(dst, seq, baseTime, samples, nil)
}

// fragmentHeader is FragmentHeader with the samples' sizes in sizes
// rather than in their AVCC (nil: len of each AVCC), for a writer whose
// samples are still NAL units in the payloads it was given.
func fragmentHeader(dst []byte, seq uint32, baseTime uint64, samples []TimedSample, sizes []uint32) ([]byte, error) {
	var buf seekablebuffer.Buffer
	w := amp4.NewWriter(&buf)
	var trunAt int64
	open := func(box amp4.IImmutableBox) error {
		bi, err := w.StartBox(&amp4.BoxInfo{Type: box.GetType()})
		if err != nil {
			return err
		}
		if box.GetType() == amp4.BoxTypeTrun() {
			trunAt = int64(bi.Offset)
		}
		_, err = amp4.Marshal(w, box, amp4.Context{})
		return err
	}
	closeBox := func() error { _, err := w.EndBox(); return err }

	flags := uint32(trunDataOffset | trunDuration | trunSize)
	trun := &amp4.Trun{SampleCount: uint32(len(samples)), Entries: make([]amp4.TrunEntry, len(samples))}
	data := 0
	for i, s := range samples {
		var sf uint32
		if !s.Key {
			flags |= trunFlags
			sf = sampleNonSync
		}
		if s.PTSOffset != 0 {
			flags |= trunCTOffset
		}
		size := uint32(len(s.AVCC))
		if sizes != nil {
			size = sizes[i]
		}
		trun.Entries[i] = amp4.TrunEntry{SampleDuration: s.Duration, SampleSize: size,
			SampleFlags: sf, SampleCompositionTimeOffsetV1: s.PTSOffset}
		data += int(size)
	}
	if data > math.MaxUint32-mdatHeaderLength {
		return dst, fmt.Errorf("mp4: fragment %d: %d bytes of samples do not fit one mdat", seq, data)
	}
	trun.FullBox = amp4.FullBox{Version: 1, Flags: [3]byte{0, byte(flags >> 8), byte(flags)}}

	steps := []func() error{
		func() error { return open(&amp4.Moof{}) },
		func() error { return open(&amp4.Mfhd{SequenceNumber: seq}) }, closeBox,
		func() error { return open(&amp4.Traf{}) },
		func() error {
			return open(&amp4.Tfhd{FullBox: amp4.FullBox{Flags: [3]byte{tfhdDefaultBase >> 16, 0, 0}}, TrackID: trackID})
		}, closeBox,
		func() error {
			return open(&amp4.Tfdt{FullBox: amp4.FullBox{Version: 1}, BaseMediaDecodeTimeV1: baseTime})
		}, closeBox,
		func() error { return open(trun) }, closeBox,
		closeBox, // traf
		closeBox, // moof
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return dst, fmt.Errorf("mp4: fragment %d: %w", seq, err)
		}
	}
	moof := buf.Bytes()
	// data_offset (after size, type, version+flags, sample_count): from
	// the moof's start to the first sample, just past the mdat header.
	binary.BigEndian.PutUint32(moof[trunAt+16:], uint32(len(moof)+mdatHeaderLength))
	dst = append(dst, moof...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(mdatHeaderLength+data))
	return append(dst, "mdat"...), nil
}
