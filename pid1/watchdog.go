package pid1

import (
	"time"

	"github.com/u-root/u-root/pkg/watchdog"
)

// The hardware watchdog: opened in boot step 12 (its driver comes with the coldplug), petted by the main loop
// and by every wait of the shutdown, disarmed just before the power
// goes (settle), so a hung PID 1 reboots the board and a slow halt does
// not.

// openWatchdog is boot step 12.
func (in *Init) openWatchdog() {
	wd, err := watchdog.Open("/dev/watchdog")
	if err != nil {
		in.logf("watchdog: %v (running without one)", err)
		return
	}
	in.mu.Lock()
	in.wd = wd
	in.mu.Unlock()
	t, err := wd.Timeout()
	in.logf("watchdog armed (timeout %v, %v)", t, err)
}

func (in *Init) pet() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.wd != nil {
		if err := in.wd.KeepAlive(); err != nil {
			in.logf("watchdog: %v", err)
		}
	}
}

// petInterval is a third of the bcm2835 watchdog's ~15 s maximum.
func (in *Init) petInterval() time.Duration { return 5 * time.Second }

// waitPetting waits for done (or d) while keeping the watchdog fed.
func (in *Init) waitPetting(done <-chan struct{}, d time.Duration) {
	deadline := time.After(d)
	tick := time.NewTicker(in.petInterval())
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-deadline:
			in.logf("gave up waiting after %v", d)
			return
		case <-tick.C:
			in.pet()
		}
	}
}

// disarmWatchdog stops the watchdog (magic close) before power off.
func (in *Init) disarmWatchdog() {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.wd != nil {
		in.wd.MagicClose()
		in.wd = nil
	}
}
