package mp4

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/camwire/camwire/segment"
	"github.com/camwire/camwire/sink"
	"github.com/camwire/camwire/wire"
)

// Remux writes the raw Annex-B H.264 stream src (a finished recording of
// `raspivid | nc`, which has no timestamps) as a fragmented MP4 at dst,
// spacing frames evenly at hello's frame rate. Access units before the
// first keyframe with SPS/PPS cannot be decoded: they are kept as raw
// bytes (see Sink) and counted in skipped. dst must not exist; on error it is removed, and src
// is never changed, so nothing is lost.
func Remux(dst string, src io.Reader, hello wire.Hello) (frames, skipped int, err error) {
	if hello.FPSNum == 0 || hello.FPSDen == 0 {
		return 0, 0, fmt.Errorf("mp4: remux %s: need a frame rate, got %d/%d", dst, hello.FPSNum, hello.FPSDen)
	}
	w, err := (&Sink{}).Create(dst, sink.SegmentInfo{Hello: hello})
	if err != nil {
		return 0, 0, err
	}
	defer func() {
		if err != nil {
			w.Close()
			os.Remove(dst)
		}
	}()
	var sp segment.Splitter
	put := func(aus []segment.AU) error {
		for _, au := range aus {
			if !segment.HasPicture(au.Data) {
				continue // e.g. parameter sets at the very end: nothing to show
			}
			t := int64(math.Round(float64(frames) * 1e6 * float64(hello.FPSDen) / float64(hello.FPSNum)))
			if err := w.WriteFrame(wire.Frame{Seq: uint64(frames + skipped + 1), TimeUS: t, Key: au.Key, Payload: au.Data}); err != nil {
				return fmt.Errorf("mp4: remux %s: %w", dst, err)
			}
			if n := w.(Undecodable).Undecodable(); n > skipped {
				skipped = n // kept as raw bytes, no picture time spent
			} else {
				frames++
			}
		}
		return nil
	}
	buf := make([]byte, 1<<20)
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			aus, serr := sp.Write(buf[:n], 0)
			if err := put(aus); err != nil {
				return frames, skipped, err
			}
			if serr != nil {
				return frames, skipped, fmt.Errorf("mp4: remux %s: %w", dst, serr)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return frames, skipped, fmt.Errorf("mp4: remux %s: %w", dst, rerr)
		}
	}
	if err := put(sp.Flush()); err != nil {
		return frames, skipped, err
	}
	if frames == 0 {
		return 0, skipped, fmt.Errorf("mp4: remux %s: no decodable frame (no keyframe with SPS/PPS)", dst)
	}
	return frames, skipped, w.Finish()
}

// RemuxFile writes the finished raw recording src (NAME.h264) as an MP4
// beside it (NAME.mp4), frames spaced at hello's rate. It writes
// NAME.mp4.partial and renames it once complete and fsynced, so a crash
// mid-way never leaves a short file under the final name. src is only
// read, and an existing NAME.mp4 is never replaced.
func RemuxFile(src string, hello wire.Hello) (dst string, frames, skipped int, err error) {
	dst = strings.TrimSuffix(src, filepath.Ext(src)) + ".mp4"
	if dst == src {
		return "", 0, 0, fmt.Errorf("mp4: remux %s: source is already .mp4", src)
	}
	if _, err := os.Lstat(dst); err == nil {
		return "", 0, 0, fmt.Errorf("mp4: remux %s: %s exists", src, dst)
	}
	in, err := os.Open(src)
	if err != nil {
		return "", 0, 0, fmt.Errorf("mp4: remux: %w", err)
	}
	defer in.Close()
	tmp := dst + ".partial"
	frames, skipped, err = Remux(tmp, in, hello)
	if err != nil {
		return "", frames, skipped, err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return "", frames, skipped, fmt.Errorf("mp4: remux %s: %w", src, err)
	}
	if d, err := os.Open(filepath.Dir(dst)); err == nil {
		d.Sync() // the rename survives a power cut; Windows cannot and need not
		d.Close()
	}
	return dst, frames, skipped, nil
}
