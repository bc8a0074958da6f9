// Package ffprobe asks the real ffprobe (Debian package ffmpeg) what a
// recording holds. Decoding every frame with a player's own decoder is how
// camwire proves a file plays: the tests and `make demo` count frames this
// way and compare them with what the camera says it captured.
package ffprobe

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Info is what ffprobe says about a file's first video stream.
type Info struct {
	Codec         string
	Width, Height int
	// Frames were decoded (-count_frames), not read from a header.
	Frames int
	// Duration is the container's; 0 for a raw .h264, which has none.
	Duration time.Duration
	// Stderr is everything ffprobe -v error printed: empty for a clean file.
	Stderr string
}

// Probe decodes path with ffprobe -v error -count_frames. A file ffprobe
// cannot open is an error carrying what it printed.
func Probe(path string) (Info, error) {
	cmd := exec.Command("ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,width,height,nb_read_frames:format=duration",
		"-of", "json", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return Info{Stderr: stderr.String()}, fmt.Errorf("ffprobe %s: %v: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	var j struct {
		Streams []struct {
			CodecName    string `json:"codec_name"`
			Width        int    `json:"width"`
			Height       int    `json:"height"`
			NbReadFrames string `json:"nb_read_frames"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &j); err != nil {
		return Info{Stderr: stderr.String()}, fmt.Errorf("ffprobe %s: unreadable output: %v", path, err)
	}
	in := Info{Stderr: stderr.String()}
	if len(j.Streams) != 1 {
		return in, fmt.Errorf("ffprobe %s: no video stream", path)
	}
	s := j.Streams[0]
	in.Codec, in.Width, in.Height = s.CodecName, s.Width, s.Height
	if in.Frames, err = strconv.Atoi(s.NbReadFrames); err != nil {
		return in, fmt.Errorf("ffprobe %s: frame count %q", path, s.NbReadFrames)
	}
	if d, err := strconv.ParseFloat(j.Format.Duration, 64); err == nil {
		in.Duration = time.Duration(d * float64(time.Second))
	}
	return in, nil
}

// Frames is Probe's decoded frame count.
func Frames(path string) (int, error) {
	in, err := Probe(path)
	return in.Frames, err
}
