package live

import _ "embed"

// timelineHTML is the camera page's timeline: the spans /list returns
// drawn on a bar of 10 min to 7 days, gaps left empty. A click plays from
// that moment through /get (a seekable mp4 with its moov first, in
// chunks, the next one loaded when one ends); the download form cuts any
// range through /get too.
//
//go:embed timeline.html
var timelineHTML string

// zoom is one of the timeline's widths.
type zoom struct {
	Label string
	Secs  int
}

var zooms = []zoom{{"10 min", 600}, {"1 h", 3600}, {"6 h", 6 * 3600}, {"24 h", 86400}, {"7 days", 7 * 86400}}
