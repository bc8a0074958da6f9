package mp4

import (
	"encoding/binary"
	"fmt"
	"math"
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

// Box sizes of the fragment header's fixed boxes (ISO/IEC 14496-12):
// a box header is size and type; a full box adds version and flags.
const (
	boxHeader     = 8
	fullBoxHeader = boxHeader + 4
	mfhdLength    = fullBoxHeader + 4     // sequence_number (8.8.5)
	tfhdLength    = fullBoxHeader + 4     // track_ID, no optional fields (8.8.7)
	tfdtLength    = fullBoxHeader + 8     // version 1: 64-bit baseMediaDecodeTime (8.8.12)
	trunFixed     = fullBoxHeader + 4 + 4 // sample_count, data_offset (8.8.8)
)

// FragmentHeader appends to dst the moof of one fragment holding samples
// (contiguous, the first at baseTime) and the header of the mdat after
// it. The mdat's payload is the samples' AVCC back to back, which the
// caller writes from wherever it already is.
//
// mediacommon's fmp4.Part.Marshal writes the same boxes, but it copies
// every payload into a fresh mdat and that again into its growing buffer:
// three copies and two fragment-sized allocations per fragment, most of
// the MP4 sink's CPU on real video (see BenchmarkSink). go-mp4, which it
// builds on, can write the boxes alone, but through reflection and a
// fresh buffer and trun table per fragment: a tenth of the MP4 sink's CPU
// on real video, more than all its other work but the write itself. The
// boxes are six fixed layouts, so they are written here field by field,
// as mediacommon fills them; a test compares the bytes with
// mediacommon's.
func FragmentHeader(dst []byte, seq uint32, baseTime uint64, samples []TimedSample) ([]byte, error) {
	return fragmentHeader(dst, seq, baseTime, samples, nil)
}

// fragmentHeader is FragmentHeader with the samples' sizes in sizes
// rather than in their AVCC (nil: len of each AVCC), for a writer whose
// samples are still NAL units in the payloads it was given.
func fragmentHeader(dst []byte, seq uint32, baseTime uint64, samples []TimedSample, sizes []uint32) ([]byte, error) {
	flags := uint32(trunDataOffset | trunDuration | trunSize)
	data := 0
	for i, s := range samples {
		if !s.Key {
			flags |= trunFlags
		}
		if s.PTSOffset != 0 {
			flags |= trunCTOffset
		}
		if sizes != nil {
			data += int(sizes[i])
		} else {
			data += len(s.AVCC)
		}
	}
	entry := 8 // sample_duration, sample_size
	if flags&trunFlags != 0 {
		entry += 4
	}
	if flags&trunCTOffset != 0 {
		entry += 4
	}
	trunLength := trunFixed + entry*len(samples)
	trafLength := boxHeader + tfhdLength + tfdtLength + trunLength
	moofLength := boxHeader + mfhdLength + trafLength
	if data > math.MaxUint32-mdatHeaderLength || moofLength > math.MaxUint32-mdatHeaderLength {
		return dst, fmt.Errorf("mp4: fragment %d: %d samples of %d bytes do not fit one moof and mdat", seq, len(samples), data)
	}
	be := binary.BigEndian
	box := func(b []byte, size int, typ string) []byte {
		return append(be.AppendUint32(b, uint32(size)), typ...)
	}
	b := box(dst, moofLength, "moof")
	b = box(b, mfhdLength, "mfhd")
	b = be.AppendUint32(b, 0) // version 0, flags 0
	b = be.AppendUint32(b, seq)
	b = box(b, trafLength, "traf")
	b = box(b, tfhdLength, "tfhd")
	b = be.AppendUint32(b, tfhdDefaultBase) // version 0
	b = be.AppendUint32(b, trackID)
	b = box(b, tfdtLength, "tfdt")
	b = be.AppendUint32(b, 1<<24) // version 1, flags 0
	b = be.AppendUint64(b, baseTime)
	b = box(b, trunLength, "trun")
	b = be.AppendUint32(b, 1<<24|flags) // version 1: signed composition offsets
	b = be.AppendUint32(b, uint32(len(samples)))
	// data_offset: from the moof's start to the first sample, just past
	// the mdat header.
	b = be.AppendUint32(b, uint32(moofLength+mdatHeaderLength))
	for i, s := range samples {
		size := uint32(len(s.AVCC))
		if sizes != nil {
			size = sizes[i]
		}
		b = be.AppendUint32(b, s.Duration)
		b = be.AppendUint32(b, size)
		if flags&trunFlags != 0 {
			sf := uint32(0)
			if !s.Key {
				sf = sampleNonSync
			}
			b = be.AppendUint32(b, sf)
		}
		if flags&trunCTOffset != 0 {
			b = be.AppendUint32(b, uint32(s.PTSOffset))
		}
	}
	b = be.AppendUint32(b, uint32(mdatHeaderLength+data))
	return append(b, "mdat"...), nil
}
