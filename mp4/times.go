package mp4

import (
	"encoding/binary"
	"time"
)

// Wall-clock times in the file. mediacommon writes mvhd, tkhd and mdhd
// with zero creation times and has no prft box (nor has go-mp4, which it
// builds on), so both are done here on the bytes: the header fields have
// fixed offsets (ISO/IEC 14496-12 8.2.2, 8.3.2, 8.4.2), and prft is a
// 32-byte box (8.16.5).

// mp4Epoch is where MP4 creation times count from (seconds, 1904-01-01 UTC).
const mp4Epoch = 2082844800 // seconds from 1904 to 1970

// ntpEpoch is where NTP timestamps count from (seconds, 1900-01-01 UTC).
const ntpEpoch = 2208988800

// SetCreationTime writes t as the creation and modification time of the
// movie (mvhd), its tracks (tkhd) and their media (mdhd) in an init
// segment (ftyp+moov, or moov alone), in place. ffprobe shows it as the
// creation_time tag.
func SetCreationTime(init []byte, t time.Time) {
	secs := uint64(t.Unix() + mp4Epoch)
	walk(init, func(typ string, box []byte) {
		switch typ {
		case "mvhd", "tkhd", "mdhd":
			if len(box) < 12 {
				return
			}
			if box[8] == 1 { // version 1: 64-bit times
				if len(box) >= 12+16 {
					binary.BigEndian.PutUint64(box[12:], secs)
					binary.BigEndian.PutUint64(box[20:], secs)
				}
				return
			}
			if len(box) >= 12+8 {
				binary.BigEndian.PutUint32(box[12:], uint32(secs))
				binary.BigEndian.PutUint32(box[16:], uint32(secs))
			}
		}
	})
}

// walk calls fn for every box in b and, recursively, in the containers
// the init segment has on the way to the headers.
func walk(b []byte, fn func(typ string, box []byte)) {
	for len(b) >= 8 {
		n := int(binary.BigEndian.Uint32(b))
		if n < 8 || n > len(b) {
			return
		}
		typ := string(b[4:8])
		fn(typ, b[:n])
		switch typ {
		case "moov", "trak", "mdia":
			walk(b[8:n], fn)
		}
		b = b[n:]
	}
}

// prftCaptured is prft's flags value saying the time is when the scene
// was captured: "a consistent, small (ideally zero) offset from the
// real-time of the experience depicted in the media at media_time"
// (ISO/IEC 14496-12:2022, flags 24).
const prftCaptured = 24

// ProducerReferenceTime is a prft box (version 1) for the fragment that
// follows it: the frame of the track presented at mediaTime (in
// TimeScale ticks) was captured at t.
func ProducerReferenceTime(t time.Time, mediaTime uint64) []byte {
	b := make([]byte, 0, 32)
	b = binary.BigEndian.AppendUint32(b, 32)
	b = append(b, "prft"...)
	b = binary.BigEndian.AppendUint32(b, 1<<24|prftCaptured) // version 1, flags
	b = binary.BigEndian.AppendUint32(b, trackID)
	b = binary.BigEndian.AppendUint64(b, NTP(t))
	return binary.BigEndian.AppendUint64(b, mediaTime)
}

// NTP is t as a 64-bit NTP timestamp: seconds since 1900 and a 32-bit
// fraction.
func NTP(t time.Time) uint64 {
	secs := uint64(t.Unix() + ntpEpoch)
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return secs<<32 | frac
}

// FromNTP is the inverse of NTP.
func FromNTP(v uint64) time.Time {
	secs := int64(v>>32) - ntpEpoch
	nanos := (v & 0xffffffff) * 1e9 >> 32
	return time.Unix(secs, int64(nanos)).UTC()
}
