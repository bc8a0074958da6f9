// Package camconsole is the camera's console contract: the lines
// camwire-init prints on its output (the serial console on a Pi, stdout
// as a plain process) that other programs read back. PID 1 drives the
// LED from the recorder's state and config lines; make demo, the QEMU
// tests and the in-process tests wait for the markers and check the
// summary. Writers and readers both use this package, so a changed word
// breaks the build or one test here, not a boot in QEMU.
//
// The lines, in boot order:
//
//	camwire: init start
//	camwire: boot step mounts 0.01s                  (PID 1: one per boot step)
//	camwire: boot done after 1234ms (board pi3)
//	camwire: recorder start name=N stream=UUID source=S receiver=H:P segment=3s
//	camwire: config: camwire.txt:4: fps: …          (one per settings problem)
//	camwire: state no-receiver|recording|error       (on every change)
//	camwire: camera: no camera driver bound: …       (the V4L2 device is missing, and why)
//	camwire: network: address conflict: …            (recorder -network: the address is taken)
//	camwire: first frame sent after 123ms            (since the recorder started)
//	camwire: first frame acked after 456ms
//	camwire: shutdown (signal interrupt)
//	captured=N sent=N acked=N dropped=N              (the recorder's last line)
//	camwire: power off
package camconsole

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Prefix starts every line camwire-init prints, except the summary.
const Prefix = "camwire: "

// Line starts (stable). Lines are printed without a trailing newline
// here; writers add one.
const (
	InitStart        = Prefix + "init start"
	BootStepPrefix   = Prefix + "boot step "
	BootDonePrefix   = Prefix + "boot done after "
	RecorderStart    = Prefix + "recorder start "
	ConfigPrefix     = Prefix + "config: "
	StatePrefix      = Prefix + "state "
	FirstSentPrefix  = Prefix + "first frame sent after "
	FirstAckedPrefix = Prefix + "first frame acked after "
	ShutdownPrefix   = Prefix + "shutdown "
	PowerOff         = Prefix + "power off"
	// CameraPrefix starts the recorder's word on a missing camera
	// device (the kernel's reason) and on its appearing.
	CameraPrefix = Prefix + "camera: "
	// ConflictPrefix starts a recorder -network line: another host has
	// the address.
	ConflictPrefix = Prefix + "network: address conflict: "
)

// Match returns a regexp for console lines that start with start (one of
// the constants above, or any longer literal text): at the beginning of
// the line, or after a debug shell's "$ " prompt, which shares the
// console with camwire-init on a debug image.
func Match(start string) *regexp.Regexp {
	return regexp.MustCompile(`(?:^|\$ )` + regexp.QuoteMeta(start))
}

// State is the recorder's state, which the LED shows.
type State string

const (
	StateNoReceiver State = "no-receiver" // capturing, nobody acknowledges
	StateRecording  State = "recording"   // frames are acknowledged
	StateError      State = "error"       // the camera or the settings failed
)

// Line is "camwire: state NAME".
func (s State) Line() string { return StatePrefix + string(s) }

// ParseState reads a state line's state; ok is false for other lines
// and unknown states. Words after the state are allowed.
func ParseState(line string) (State, bool) {
	rest, ok := strings.CutPrefix(line, StatePrefix)
	if !ok {
		return "", false
	}
	name, _, _ := strings.Cut(rest, " ")
	switch s := State(name); s {
	case StateNoReceiver, StateRecording, StateError:
		return s, true
	}
	return "", false
}

// ConfigLine reports one settings problem.
func ConfigLine(problem string) string { return ConfigPrefix + problem }

// IsConfig says whether line reports a settings problem.
func IsConfig(line string) bool { return strings.HasPrefix(line, ConfigPrefix) }

// FirstSentLine and FirstAckedLine mark the first frame written to the
// receiver and the first it acknowledged, d after the recorder started.
func FirstSentLine(d time.Duration) string  { return FirstSentPrefix + ms(d) }
func FirstAckedLine(d time.Duration) string { return FirstAckedPrefix + ms(d) }

// BootDoneLine ends PID 1's boot, d after it started.
func BootDoneLine(d time.Duration, board string) string {
	return fmt.Sprintf("%s%s (board %s)", BootDonePrefix, ms(d), board)
}

// ShutdownLine is PID 1's first line of a shutdown, naming its cause.
func ShutdownLine(signal fmt.Stringer) string {
	return fmt.Sprintf("%s(signal %v)", ShutdownPrefix, signal)
}

func ms(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }

// BootStep is how long one of PID 1's boot steps took.
type BootStep struct {
	Name string // one word: "mounts", "modules", …
	Took time.Duration
}

// Line is "camwire: boot step NAME 0.08s" (to the 10 ms).
func (b BootStep) Line() string {
	return fmt.Sprintf("%s%s %.2fs", BootStepPrefix, b.Name, b.Took.Seconds())
}

// ParseBootStep reads a boot step line.
func ParseBootStep(line string) (BootStep, bool) {
	rest, ok := strings.CutPrefix(line, BootStepPrefix)
	if !ok {
		return BootStep{}, false
	}
	name, secs, ok := strings.Cut(rest, " ")
	if !ok || name == "" || !strings.HasSuffix(secs, "s") {
		return BootStep{}, false
	}
	d, err := time.ParseDuration(secs)
	if err != nil {
		return BootStep{}, false
	}
	return BootStep{Name: name, Took: d}, true
}

// Summary is the recorder's last line: what the camera captured, wrote
// to the receiver, had acknowledged, and dropped (to a full buffer, or
// before the first keyframe). After a clean drain Acked+Dropped equals
// Captured.
type Summary struct {
	Captured, Sent, Acked, Dropped uint64
}

// SummaryPrefix starts a summary line.
const SummaryPrefix = "captured="

// SummaryRE matches a summary line (see Match for the optional prompt).
var SummaryRE = regexp.MustCompile(`(?:^|\$ )captured=(\d+) sent=(\d+) acked=(\d+) dropped=(\d+)$`)

// Format is "captured=N sent=N acked=N dropped=N".
func (s Summary) Format() string {
	return fmt.Sprintf("captured=%d sent=%d acked=%d dropped=%d", s.Captured, s.Sent, s.Acked, s.Dropped)
}

// ParseSummary reads a summary line.
func ParseSummary(line string) (Summary, error) {
	m := SummaryRE.FindStringSubmatch(strings.TrimRight(line, "\r\n"))
	if m == nil {
		return Summary{}, fmt.Errorf("%q is not a summary line (captured=N sent=N acked=N dropped=N)", line)
	}
	var s Summary
	for i, p := range []*uint64{&s.Captured, &s.Sent, &s.Acked, &s.Dropped} {
		n, err := strconv.ParseUint(m[i+1], 10, 64)
		if err != nil {
			return Summary{}, fmt.Errorf("summary %q: %v", line, err)
		}
		*p = n
	}
	return s, nil
}

// FindSummary returns the one summary line in out, a whole output; it
// fails unless there is exactly one (the recorder prints it once, last).
func FindSummary(out string) (Summary, error) {
	var found []Summary
	for _, l := range strings.Split(out, "\n") {
		if s, err := ParseSummary(l); err == nil {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		return Summary{}, fmt.Errorf("%d summary lines in the output, want exactly 1", len(found))
	}
	return found[0], nil
}
