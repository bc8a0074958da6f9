package mp4

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/bits"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/camwire/camwire/wire"
)

// TimeScale is the MP4 track's clock: 90 kHz, the usual video clock, so
// every common frame rate has a near-integer frame duration.
const TimeScale = 90000

// defaultFrameTicks is the frame duration assumed when neither the Hello
// nor the stream so far says anything about the rate (30 fps).
const defaultFrameTicks = TimeScale / 30

// ErrNoParams means an access unit came before the stream's SPS and PPS:
// it cannot be decoded, and an MP4 cannot be started without them.
var ErrNoParams = errors.New("mp4: access unit before the first SPS/PPS keyframe")

// Timeline turns access units in decode order, each with the sender's
// capture time, into MP4 sample times.
//
// Timestamps, decided here once for the file sink and the live view:
//
//   - wire.Frame.TimeUS is the decode time (DTS). Frames leave the encoder
//     in decode order and the camera stamps them as they come, so the
//     stamps rise with decode order even when the stream has B-frames.
//     DTS = TimeUS − TimeUS of the segment's first frame, in 90 kHz ticks,
//     each computed from the absolute stamp so a long segment cannot drift.
//   - The presentation time comes from the picture order count (POC) in
//     each slice header: a frame shown k frames later than it is decoded
//     gets PTS = DTS + (k + R) · D, where D is the nominal frame duration
//     (Hello's frame rate, else the last measured delta) and R is the
//     stream's reorder depth (SPS VUI max_num_reorder_frames, else 0 for
//     Baseline or POC type 2, else max_num_ref_frames), so no PTS is ever
//     earlier than its DTS. Streams without B-frames get PTS = DTS + R·D
//     with k = 0 for every frame, i.e. PTS = DTS when the SPS says R = 0.
//
// mediacommon's DTSExtractor solves the opposite problem (RTP gives PTS,
// DTS must be guessed); here DTS is what we know.
//
// The zero Timeline is not usable; use NewTimeline or a restored state.
type Timeline struct {
	st timelineState
	// sps is the parsed st.SPS; nil until the first SPS.
	sps *h264.SPS
	// nalus is push's result, reused: valid until the next push.
	nalus [][]byte
	// starts is a checked NAL table's offsets, reused.
	starts []int
	// badTables counts NAL tables that did not match their payload.
	badTables int
}

// BadTables is how many access units came with a NAL table
// (wire.Frame.NALs) that did not match their bytes: each was split by
// searching it instead.
func (t *Timeline) BadTables() int { return t.badTables }

// timelineState is everything a Timeline needs to continue after a
// restart; it is part of the file sink's Sync state.
type timelineState struct {
	FrameTicks int64  `json:"frame_ticks"` // nominal frame duration from Hello, 0 if unknown
	BaseUS     int64  `json:"base_us"`     // TimeUS of the first frame
	Started    bool   `json:"started"`     // BaseUS is set
	PrevDTS    int64  `json:"prev_dts"`    // DTS of the previous frame
	LastDelta  int64  `json:"last_delta"`  // measured DTS delta of the previous frame
	SPS        []byte `json:"sps"`         // current SPS NAL unit
	PPS        []byte `json:"pps"`         // current PPS NAL unit
	Reorder    int64  `json:"reorder"`     // R: frames of reordering delay
	POCStep    int64  `json:"poc_step"`    // POC units per frame: 2 (usual) or 1
	PrevMsb    int64  `json:"prev_msb"`    // PicOrderCntMsb of the previous reference picture
	PrevLsb    int64  `json:"prev_lsb"`    // pic_order_cnt_lsb of the previous reference picture
	IDRPOC     int64  `json:"idr_poc"`     // POC of the last IDR picture
	DecSince   int64  `json:"dec_since"`   // frames decoded since the last IDR, including it
}

// NewTimeline starts a timeline for a camera's stream. The Hello's frame
// rate, if given, is the nominal frame duration.
func NewTimeline(hello wire.Hello) *Timeline {
	t := &Timeline{}
	t.st.POCStep = 2
	if hello.FPSNum != 0 && hello.FPSDen != 0 {
		t.st.FrameTicks = int64(TimeScale) * int64(hello.FPSDen) / int64(hello.FPSNum)
	}
	return t
}

// Params returns the current SPS and PPS, nil before the first keyframe.
func (t *Timeline) Params() (sps, pps []byte) { return t.st.SPS, t.st.PPS }

// FrameTicks is the duration to give a frame whose successor is unknown:
// the Hello's frame rate, else the last measured delta, else 1/30 s.
func (t *Timeline) FrameTicks() int64 {
	switch {
	case t.st.FrameTicks > 0:
		return t.st.FrameTicks
	case t.st.LastDelta > 0:
		return t.st.LastDelta
	}
	return defaultFrameTicks
}

// Sample is one access unit ready for an MP4 fragment.
type Sample struct {
	DTS       int64  // decode time in TimeScale ticks from the segment's first frame
	PTSOffset int32  // PTS − DTS in ticks, ≥ 0
	Key       bool   // IDR: a sync sample
	AVCC      []byte // NAL units with 4-byte length prefixes (AUD and filler removed)
}

// Push takes the next access unit (Annex-B, in decode order) and its
// capture time and returns the MP4 sample. ParamsChanged reports that the
// SPS or PPS differ from the previous ones (always true for the first):
// an init segment made earlier no longer describes the stream.
func (t *Timeline) Push(annexB []byte, timeUS int64) (s Sample, paramsChanged bool, err error) {
	s, _, paramsChanged, err = t.PushTo(make([]byte, 0, len(annexB)+16), annexB, timeUS)
	return s, paramsChanged, err
}

// PushTo is Push with the sample's AVCC appended to dst, which is
// returned (grown if needed; unchanged on error) and of which s.AVCC is
// the tail. A writer that collects a fragment's mdat this way copies each
// frame once and, once dst has grown to a fragment, allocates nothing per
// frame for it.
func (t *Timeline) PushTo(dst, annexB []byte, timeUS int64) (s Sample, out []byte, paramsChanged bool, err error) {
	return t.pushTo(dst, annexB, nil, timeUS)
}

// pushTo is PushTo with the access unit's NAL table, nil when none.
func (t *Timeline) pushTo(dst, annexB []byte, nals wire.NALTable, timeUS int64) (s Sample, out []byte, paramsChanged bool, err error) {
	s, nalus, paramsChanged, err := t.push(annexB, nals, timeUS)
	if err != nil {
		return Sample{}, dst, false, err
	}
	start := len(dst)
	for _, n := range nalus { // what h264.AVCC.Marshal writes, into dst
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(n)))
		dst = append(dst, n...)
	}
	s.AVCC = dst[start:]
	return s, dst, paramsChanged, nil
}

// push is Push without the AVCC: it returns the NAL units to keep, which
// alias annexB and are valid until the next push. nals is the access
// unit's NAL table, nil when it has none.
func (t *Timeline) push(annexB []byte, nals wire.NALTable, timeUS int64) (s Sample, nalus [][]byte, paramsChanged bool, err error) {
	au, err := t.split(annexB, nals)
	t.nalus = au[:0]
	if err != nil {
		return Sample{}, nil, false, fmt.Errorf("mp4: access unit is not Annex-B H.264: %w", err)
	}
	var vcl []byte
	idr := false
	kept := au[:0]
	for _, n := range au {
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			if string(n) != string(t.st.SPS) {
				var sps h264.SPS
				if err := sps.Unmarshal(n); err != nil {
					return Sample{}, nil, false, fmt.Errorf("mp4: bad SPS: %w", err)
				}
				t.st.SPS = append([]byte(nil), n...)
				t.sps = &sps
				t.st.Reorder = reorderDepth(&sps)
				paramsChanged = true
			}
		case h264.NALUTypePPS:
			if string(n) != string(t.st.PPS) {
				t.st.PPS = append([]byte(nil), n...)
				paramsChanged = true
			}
		case h264.NALUTypeIDR:
			idr = true
			if vcl == nil {
				vcl = n
			}
		case h264.NALUTypeNonIDR:
			if vcl == nil {
				vcl = n
			}
		case h264.NALUTypeAccessUnitDelimiter, h264.NALUTypeFillerData:
			continue // meaningless inside MP4 samples
		}
		kept = append(kept, n)
	}
	if t.st.SPS == nil || t.st.PPS == nil {
		return Sample{}, nil, false, ErrNoParams
	}
	if t.sps == nil { // restored from state
		var sps h264.SPS
		if err := sps.Unmarshal(t.st.SPS); err != nil {
			return Sample{}, nil, false, fmt.Errorf("mp4: bad saved SPS: %w", err)
		}
		t.sps = &sps
	}
	if !t.st.Started {
		if !idr {
			return Sample{}, nil, false, fmt.Errorf("%w (first frame is not an IDR picture)", ErrNoParams)
		}
		t.st.Started = true
		t.st.BaseUS = timeUS
		t.st.PrevDTS = -1
	}

	dts := usToTicks(timeUS - t.st.BaseUS)
	if dts <= t.st.PrevDTS { // equal or backward stamps: keep decode order strictly increasing
		dts = t.st.PrevDTS + 1
	}
	if t.st.PrevDTS >= 0 {
		t.st.LastDelta = dts - t.st.PrevDTS
	}
	t.st.PrevDTS = dts

	shift, err := t.reorderShift(vcl, idr)
	if err != nil {
		return Sample{}, nil, false, err
	}
	off := (shift + t.st.Reorder) * t.FrameTicks()
	if off < 0 { // the stream reorders more than its SPS admits; keep PTS ≥ DTS
		off = 0
	}
	return Sample{DTS: dts, PTSOffset: int32(off), Key: idr}, kept, paramsChanged, nil
}

// split splits annexB into t.nalus: at the offsets of its NAL table
// when it has one that checks out (wire.NALTable.AppendStarts: a few
// bytes read per NAL unit), else by searching it (splitAnnexB). Both give
// the same NAL units for a table that lists every start code.
func (t *Timeline) split(annexB []byte, nals wire.NALTable) ([][]byte, error) {
	if nals != nil {
		starts, err := nals.AppendStarts(t.starts[:0], annexB)
		t.starts = starts[:0]
		if err == nil {
			return splitAt(t.nalus[:0], annexB, starts)
		}
		t.badTables++
	}
	return splitAnnexB(t.nalus[:0], annexB)
}

// splitAt is splitAnnexB for an access unit whose NAL units begin at
// starts (checked: in buf, increasing by 3 or more, each after 00 00 01):
// the same slices, without the search. A NAL unit ends where the next
// one's start code begins, less a zero byte that makes it a 4-byte one.
func splitAt(dst [][]byte, buf []byte, starts []int) ([][]byte, error) {
	n0 := len(dst)
	for i, s := range starts {
		end := len(buf)
		if i+1 < len(starts) {
			end = starts[i+1] - 3
			if end > s && buf[end-1] == 0 {
				end-- // a four-byte start code
			}
		}
		if end > s {
			dst = append(dst, buf[s:end])
		}
	}
	if len(dst) == n0 {
		return dst, errNoNALU
	}
	return dst, nil
}

// errNoNALU: an access unit of nothing but start codes.
var errNoNALU = errors.New("no NAL unit")

// errNoStartCode: an access unit must begin with a start code.
var errNoStartCode = errors.New("no start code at the start")

// splitAnnexB appends the NAL units of the Annex-B access unit buf to dst
// (slices of buf, without start codes, empty ones left out), as
// mediacommon's h264.AnnexB.Unmarshal splits them, but into a reused
// slice instead of two new ones per frame, and finding each start code
// from its 0x01 with IndexByte, which skips the frame's bytes many at a
// time.
func splitAnnexB(dst [][]byte, buf []byte) ([][]byte, error) {
	var pos int
	switch {
	case len(buf) >= 4 && buf[0] == 0 && buf[1] == 0 && buf[2] == 0 && buf[3] == 1:
		pos = 4
	case len(buf) >= 3 && buf[0] == 0 && buf[1] == 0 && buf[2] == 1:
		pos = 3
	default:
		return dst, errNoStartCode
	}
	start := len(dst)
	for pos < len(buf) {
		end, next := len(buf), len(buf)
		if i := indexStartCode(buf[pos:]); i >= 0 {
			end, next = pos+i, pos+i+3
			if i > 0 && buf[end-1] == 0 {
				end-- // a four-byte start code
			}
		}
		if end > pos {
			dst = append(dst, buf[pos:end])
		}
		pos = next
	}
	if len(dst) == start {
		return dst, errNoNALU
	}
	return dst, nil
}

// indexStartCode returns the index of the first 00 00 01 in b, or -1. It
// is the sink's one pass over every byte of video: IndexByte finds each
// 0x01 (one in ~256 bytes of slice data) many bytes at a time, and only
// there are the two bytes before it looked at. That is as fast as
// bytes.Index here (~8 GB/s) and faster than testing 8 bytes at a time
// in Go (~2.4 GB/s).
func indexStartCode(b []byte) int {
	for i := 2; i < len(b); {
		j := bytes.IndexByte(b[i:], 1)
		if j < 0 {
			return -1
		}
		i += j
		if b[i-1] == 0 && b[i-2] == 0 {
			return i - 2
		}
		i++
	}
	return -1
}

// usToTicks converts µs to 90 kHz ticks, rounding to nearest.
func usToTicks(us int64) int64 {
	if us < 0 {
		return -((-us*9 + 50) / 100)
	}
	return (us*9 + 50) / 100
}

// reorderDepth is R, how many frames a decoder may hold back for
// reordering, from the SPS.
func reorderDepth(sps *h264.SPS) int64 {
	if sps.VUI != nil && sps.VUI.BitstreamRestriction != nil {
		return int64(sps.VUI.BitstreamRestriction.MaxNumReorderFrames)
	}
	// Baseline has no B slices; POC type 2 means output order = decode order.
	if sps.ProfileIdc == 66 || sps.PicOrderCntType == 2 || !sps.FrameMbsOnlyFlag || sps.PicOrderCntType == 1 {
		return 0
	}
	return min(int64(sps.MaxNumRefFrames), 16)
}

// reorderShift returns display index − decode index of this frame within
// its IDR period, from the POC (H.264 8.2.1.1). Streams whose output order
// is their decode order by construction give 0.
func (t *Timeline) reorderShift(vcl []byte, idr bool) (int64, error) {
	sps := t.sps
	if vcl == nil || sps.PicOrderCntType != 0 || !sps.FrameMbsOnlyFlag {
		// No slice (SEI-only unit), POC type 1 (rare, unsupported), POC
		// type 2 (no reordering) or interlaced: present in decode order.
		if idr {
			t.st.DecSince = 1
		} else {
			t.st.DecSince++
		}
		return 0, nil
	}
	lsb, refIdc, err := pocLsb(vcl, sps, idr)
	if err != nil {
		// A damaged slice header: keep the frame (a decoder conceals what
		// it can) and present it in decode order.
		t.st.DecSince++
		return 0, nil
	}
	maxLsb := int64(1) << (sps.Log2MaxPicOrderCntLsbMinus4 + 4)
	var msb int64
	if idr {
		t.st.PrevMsb, t.st.PrevLsb = 0, 0
	}
	switch {
	case lsb < t.st.PrevLsb && t.st.PrevLsb-lsb >= maxLsb/2:
		msb = t.st.PrevMsb + maxLsb
	case lsb > t.st.PrevLsb && lsb-t.st.PrevLsb > maxLsb/2:
		msb = t.st.PrevMsb - maxLsb
	default:
		msb = t.st.PrevMsb
	}
	poc := msb + lsb
	if refIdc != 0 {
		t.st.PrevMsb, t.st.PrevLsb = msb, lsb
	}
	if idr {
		t.st.IDRPOC = poc
		t.st.DecSince = 0
	}
	rel := poc - t.st.IDRPOC
	if rel%2 != 0 {
		t.st.POCStep = 1 // some encoders count POC by 1 per frame
	}
	shift := rel/t.st.POCStep - t.st.DecSince
	t.st.DecSince++
	return shift, nil
}

// pocLsb reads pic_order_cnt_lsb and nal_ref_idc from a slice NAL unit
// (7.3.3), for a frame-coded stream with POC type 0.
func pocLsb(nalu []byte, sps *h264.SPS, idr bool) (lsb int64, refIdc byte, err error) {
	refIdc = (nalu[0] >> 5) & 3
	// The fields we need sit in the first few bytes; 32 is plenty even
	// with emulation prevention bytes.
	buf := h264.EmulationPreventionRemove(nalu[1:min(len(nalu), 33)])
	pos := 0
	for range 3 { // first_mb_in_slice, slice_type, pic_parameter_set_id
		if _, err := bits.ReadGolombUnsigned(buf, &pos); err != nil {
			return 0, 0, err
		}
	}
	if sps.SeparateColourPlaneFlag {
		if _, err := bits.ReadBits(buf, &pos, 2); err != nil { // colour_plane_id
			return 0, 0, err
		}
	}
	if _, err := bits.ReadBits(buf, &pos, int(sps.Log2MaxFrameNumMinus4+4)); err != nil { // frame_num
		return 0, 0, err
	}
	if idr {
		if _, err := bits.ReadGolombUnsigned(buf, &pos); err != nil { // idr_pic_id
			return 0, 0, err
		}
	}
	v, err := bits.ReadBits(buf, &pos, int(sps.Log2MaxPicOrderCntLsbMinus4+4))
	if err != nil {
		return 0, 0, err
	}
	return int64(v), refIdc, nil
}
