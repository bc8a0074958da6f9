package pid1

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/camwire/camwire/camconsole"
)

// LEDStatus is what the ACT LED tells a user who has no screen.
type LEDStatus int

const (
	LEDBooting    LEDStatus = iota // steady on: PID 1 is starting
	LEDRecording                   // slow blink: frames are acknowledged by a receiver
	LEDNoReceiver                  // fast blink: capturing, but nobody acknowledges
	LEDError                       // three short flashes, pause: config or camera error
	LEDOff                         // off: powered down or about to reboot cleanly
)

func (s LEDStatus) String() string {
	switch s {
	case LEDBooting:
		return "booting"
	case LEDRecording:
		return "recording"
	case LEDNoReceiver:
		return "no-receiver"
	case LEDError:
		return "error"
	case LEDOff:
		return "off"
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// ledFor is what the LED shows for the recorder's state (its
// "camwire: state NAME" lines, see camconsole).
func ledFor(s camconsole.State) LEDStatus {
	switch s {
	case camconsole.StateRecording:
		return LEDRecording
	case camconsole.StateNoReceiver:
		return LEDNoReceiver
	}
	return LEDError
}

// Step is one part of a blink pattern: the LED is On for Dur.
type Step struct {
	On  bool
	Dur time.Duration
}

// Pattern returns the blink pattern of a status, repeated for as long as
// the status holds. A pattern of one step is steady. The three patterns a
// user must tell apart differ in rhythm, not only in speed: 1 s on/off,
// 0.1 s on/off, and a 3-flash group with a long pause.
func Pattern(s LEDStatus) []Step {
	const flash = 150 * time.Millisecond
	switch s {
	case LEDBooting:
		return []Step{{true, time.Hour}}
	case LEDRecording:
		return []Step{{true, time.Second}, {false, time.Second}}
	case LEDNoReceiver:
		return []Step{{true, 100 * time.Millisecond}, {false, 100 * time.Millisecond}}
	case LEDError:
		return []Step{
			{true, flash}, {false, flash},
			{true, flash}, {false, flash},
			{true, flash}, {false, 1200 * time.Millisecond},
		}
	}
	return []Step{{false, time.Hour}}
}

// LED drives one sysfs LED (/sys/class/leds/NAME). Dir is injectable so
// tests run against a temporary directory. Sleep waits for a step; tests
// replace it to walk through patterns without real time.
type LED struct {
	Dir   string
	Sleep func(ctx context.Context, d time.Duration) bool

	mu      sync.Mutex
	status  LEDStatus
	warn    bool
	changed chan struct{}
}

// FindLED returns the board's activity LED under ledsDir
// (/sys/class/leds): "ACT" on current kernels and Pi 4, "led0" on older
// ones. No LED (QEMU virt) is an error the caller logs and ignores.
func FindLED(ledsDir string) (*LED, error) {
	for _, n := range []string{"ACT", "led0"} {
		d := filepath.Join(ledsDir, n)
		if _, err := os.Stat(filepath.Join(d, "brightness")); err == nil {
			return &LED{Dir: d}, nil
		}
	}
	return nil, fmt.Errorf("no activity LED (ACT or led0) under %s", ledsDir)
}

// Set changes the status; Run picks it up at once.
func (l *LED) Set(s LEDStatus) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	if l.status == s {
		return
	}
	l.status = s
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

// SetWarning marks that the camera records, but not as configured: a bad
// value in camwire.txt fell back to its default. The LED then adds the
// error flashes to the recording and no-receiver patterns (see
// WarnPattern), so a typo does not go unnoticed on a camera with no
// screen, yet the LED still tells whether the laptop is there.
func (l *LED) SetWarning(on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.init()
	if l.warn == on {
		return
	}
	l.warn = on
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

// WarnPattern is Pattern(s) repeated for at least 2 s, then the error
// pattern's flash group once, for a camera recording with a config
// problem; other statuses keep their own pattern.
func WarnPattern(s LEDStatus) []Step {
	if s != LEDRecording && s != LEDNoReceiver {
		return Pattern(s)
	}
	var steps []Step
	var d time.Duration
	for d < 2*time.Second {
		for _, st := range Pattern(s) {
			steps = append(steps, st)
			d += st.Dur
		}
	}
	return append(steps, Pattern(LEDError)...)
}

// Warning reports whether SetWarning(true) is in effect.
func (l *LED) Warning() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.warn
}

// Status returns the current status.
func (l *LED) Status() LEDStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.status
}

func (l *LED) init() {
	if l.changed == nil {
		l.changed = make(chan struct{}, 1)
	}
}

// Run takes the LED from its kernel trigger (mmc0 activity by default)
// and blinks the current status until ctx ends, then leaves it off.
func (l *LED) Run(ctx context.Context) error {
	l.mu.Lock()
	l.init()
	changed := l.changed
	l.mu.Unlock()
	// With a trigger still set, the kernel would keep overriding our
	// brightness writes.
	if err := os.WriteFile(filepath.Join(l.Dir, "trigger"), []byte("none"), 0o644); err != nil {
		return fmt.Errorf("led: %w", err)
	}
	defer l.write(false)
	for {
		l.mu.Lock()
		steps := Pattern(l.status)
		if l.warn {
			steps = WarnPattern(l.status)
		}
		l.mu.Unlock()
		for i := 0; ; i = (i + 1) % len(steps) {
			if err := l.write(steps[i].On); err != nil {
				return err
			}
			if !l.sleep(ctx, changed, steps[i].Dur) {
				if ctx.Err() != nil {
					return nil
				}
				break // status changed: start its pattern from the top
			}
		}
	}
}

// sleep waits d; false when ctx ended or the status changed.
func (l *LED) sleep(ctx context.Context, changed chan struct{}, d time.Duration) bool {
	if l.Sleep != nil {
		select {
		case <-changed:
			return false
		default:
		}
		return l.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-changed:
		return false
	case <-t.C:
		return true
	}
}

func (l *LED) write(on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	if err := os.WriteFile(filepath.Join(l.Dir, "brightness"), []byte(v), 0o644); err != nil {
		return fmt.Errorf("led: %w", err)
	}
	return nil
}
