package bootreport

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// cameraWords pick the kernel's camera-stack lines out of its log: the
// VideoCore interface (vchiq), its MMAL layer, the legacy camera driver
// (bcm2835-camera, module bcm2835_v4l2), the V4L2 core and the shared
// memory driver they depend on.
var cameraWords = []string{"vchiq", "mmal", "bcm2835-camera", "bcm2835_camera", "bcm2835-v4l2",
	"bcm2835_v4l2", "camera", "vc-sm", "vc_sm", "videodev", "video0"}

// CameraLines returns the kernel log lines about the camera stack.
func CameraLines(klog []string) []string {
	var out []string
	for _, l := range klog {
		low := strings.ToLower(l)
		if slices.ContainsFunc(cameraWords, func(w string) bool { return strings.Contains(low, w) }) {
			out = append(out, l)
		}
	}
	return out
}

// failure matches kernel messages that report a failed probe or call:
// "probe failed", "failed to …", "error -110", "err=-19", "timed out".
var failure = regexp.MustCompile(`(?i)fail|error|err[=:]|\s-\d+\b|timed? ?out|unable|could not|cannot|not found|no such`)

// CameraReason names why the video device video is missing, for the log
// line the user reads instead of a bare "no such file": the kernel's own
// message when the camera stack reported a failure, otherwise which link
// of the chain (vchiq → bcm2835_mmal_vchiq → bcm2835_v4l2) is not there.
// loaded are the module names of /proc/modules; klogErr says why the
// kernel log could not be read, if it could not.
func CameraReason(video string, klog []string, klogErr error, loaded []string) string {
	why := "no camera driver bound: "
	var vchiqFail, otherFail string
	for _, l := range CameraLines(klog) {
		if !failure.MatchString(l) {
			continue
		}
		msg := kernelText(l)
		if strings.Contains(strings.ToLower(l), "vchiq") && vchiqFail == "" {
			vchiqFail = msg
		} else if otherFail == "" {
			otherFail = msg
		}
	}
	has := func(m string) bool { return slices.Contains(loaded, m) }
	switch {
	case vchiqFail != "":
		why += "vchiq probe failed: " + vchiqFail
	case otherFail != "":
		why += "camera driver failed: " + otherFail
	case loaded != nil && !has("vchiq"):
		why += "the vchiq module (VideoCore interface) is not loaded"
	case loaded != nil && !has("bcm2835_v4l2"):
		why += "the bcm2835_v4l2 module (legacy camera driver) is not loaded"
	default:
		why += fmt.Sprintf("%s did not appear and the kernel log says nothing about the camera "+
			"(is it enabled — start_x=1, gpu_mem=128 in config.txt — and is the ribbon cable seated?)", video)
	}
	if klogErr != nil {
		why += fmt.Sprintf(" (kernel log not readable: %v)", klogErr)
	}
	return why
}

// kernelText drops the "[   5.123456] " timestamp of a log line.
func kernelText(l string) string {
	if strings.HasPrefix(l, "[") {
		if i := strings.Index(l, "] "); i > 0 {
			return l[i+2:]
		}
	}
	return l
}

// parseKmsg turns one /dev/kmsg record, "PRI,SEQ,TS_US,FLAGS;message"
// followed by " KEY=value" continuation lines, into a dmesg-style line
// "[    5.140900] message". ok is false for a record that is not one.
func parseKmsg(rec string) (string, bool) {
	head, msg, ok := strings.Cut(rec, ";")
	if !ok {
		return "", false
	}
	msg, _, _ = strings.Cut(msg, "\n")
	f := strings.Split(head, ",")
	if len(f) < 3 {
		return "", false
	}
	us, err := strconv.ParseUint(f[2], 10, 64)
	if err != nil {
		return "", false
	}
	return fmt.Sprintf("[%5d.%06d] %s", us/1e6, us%1e6, msg), true
}

// parseSyslog splits syslog(2)'s buffer, lines like "<6>[    5.14] msg",
// dropping the priority prefix.
func parseSyslog(buf string) []string {
	var out []string
	for _, l := range strings.Split(buf, "\n") {
		if strings.HasPrefix(l, "<") {
			if i := strings.IndexByte(l, '>'); i > 0 {
				l = l[i+1:]
			}
		}
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}
