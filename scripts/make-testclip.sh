#!/usr/bin/env bash
# make-testclip.sh writes capture/testclip.h264: the real H.264 stream the
# testsrc capture source loops when there is no camera, and the fixture the
# segment and capture tests decode with ffprobe.
#
# Why these settings: 640x360@30 for 4 s (120 frames) stays under 300 KB so
# it can live in the repo and be go:embed-ed; Main profile without B-frames
# and a closed GOP of 30 (every keyframe an IDR with SPS/PPS in front) is
# what the Pi camera's encoder produces, so decode order = capture order and
# every keyframe is a valid cut point. The frame number is burnt in so a
# recording shows which frames arrived; without a font, ffmpeg's testsrc
# (which draws its own counter) is used instead. -threads 1 keeps x264's
# output the same from run to run.
#
# Usage: scripts/make-testclip.sh [OUT]   (default capture/testclip.h264)
set -euo pipefail

out=${1:-"$(dirname "$0")/../capture/testclip.h264"}
font=/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf

if [ -r "$font" ]; then
	src="testsrc2=size=640x360:rate=30:duration=4"
	vf=(-vf "drawtext=fontfile=$font:text='%{frame_num}':x=20:y=20:fontsize=48:fontcolor=white:box=1:boxcolor=black")
else
	echo "make-testclip.sh: no font at $font, using testsrc's own counter" >&2
	src="testsrc=size=640x360:rate=30:duration=4"
	vf=()
fi

ffmpeg -hide_banner -loglevel error -y -f lavfi -i "$src" "${vf[@]}" \
	-c:v libx264 -threads 1 -profile:v main -preset veryfast \
	-bf 0 -g 30 -keyint_min 30 -sc_threshold 0 -x264-params open-gop=0 \
	-b:v 400k -maxrate 500k -bufsize 500k -pix_fmt yuv420p \
	-f h264 "$out"

size=$(stat -c %s "$out")
if [ "$size" -ge 300000 ]; then
	echo "make-testclip.sh: $out is $size bytes, want < 300000" >&2
	exit 1
fi
echo "make-testclip.sh: wrote $out ($size bytes)"
