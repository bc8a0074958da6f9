package coldplug

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// fakeSys is a sysfs tree with devices (path → modalias) and bound
// drivers (path → driver name), made of plain files and links.
// Each device is linked from bus/<bus>/devices/ as the kernel does; the
// bus is "cpu" for devices/system/cpu/…, else the modalias's prefix.
func fakeSys(t *testing.T, devs map[string]string, bound map[string]string) string {
	t.Helper()
	sys := t.TempDir()
	for p, alias := range devs {
		addDevice(t, sys, p, alias, bound[p])
	}
	// A device without a modalias (a class device) is not listed.
	os.MkdirAll(filepath.Join(sys, "devices/virtual/net/lo"), 0o755)
	os.MkdirAll(filepath.Join(sys, "bus/net/devices"), 0o755)
	os.Symlink("../../../devices/virtual/net/lo", filepath.Join(sys, "bus/net/devices/lo"))
	return sys
}

// mustAliases parses testAliases.
func mustAliases(t *testing.T) *Aliases {
	t.Helper()
	a, err := ParseAliases(strings.NewReader(testAliases))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func addDevice(t *testing.T, sys, p, alias, driver string) {
	t.Helper()
	dir := filepath.Join(sys, p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bus, _, _ := strings.Cut(alias, ":")
	if bus == "of" {
		bus = "platform"
	}
	if strings.HasPrefix(p, "devices/system/cpu/") {
		bus = "cpu"
	}
	busDir := filepath.Join(sys, "bus", bus, "devices")
	if err := os.MkdirAll(busDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../"+p, filepath.Join(busDir, filepath.Base(p))); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "modalias"), []byte(alias+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if driver != "" {
		bind(t, sys, p, driver)
	}
}

func bind(t *testing.T, sys, p, driver string) {
	t.Helper()
	if err := os.Symlink("../../bus/platform/drivers/"+driver, filepath.Join(sys, p, "driver")); err != nil {
		t.Fatal(err)
	}
}

const testAliases = `alias of:N*T*Cbrcm,bcm2711-emmc2C* sdhci_iproc
alias of:N*T*Cbrcm,bcm2711-emmc2 sdhci_iproc
alias of:N*T*Cregulator-gpio gpio_regulator
alias of:N*T*Cregulator-fixed fixed
alias of:N*T*Cbrcm,bcm2835-vchiq vchiq
alias platform:bcm2835-camera bcm2835_v4l2
alias platform:bcm2835-wdt bcm2835_wdt
alias of:N*T*Cbrcm,bcm2711-thermal bcm2711_thermal
alias cpu:type:*:feature:*0006* sha2_ce
alias mmc:block mmc_block
`

// TestColdplug: every device's matching module is loaded once, a device
// a loaded driver registers (vchiq → the camera) is picked up by the next
// pass, a blacklisted module is skipped, a failing one is reported with
// its error, and Result lists the devices still without a driver (the
// SD card whose regulator failed, a node nothing matches) but not the CPU.
func TestColdplug(t *testing.T) {
	sys := fakeSys(t, map[string]string{
		"devices/platform/emmc2bus/fe340000.mmc":       "of:NmmcT(null)Cbrcm,bcm2711-emmc2",
		"devices/platform/sd_io_1v8_reg":               "of:Nsd_io_1v8_regT(null)Cregulator-gpio",
		"devices/platform/sd_vcc_reg":                  "of:Nsd_vcc_regT(null)Cregulator-fixed",
		"devices/platform/soc/fe00b840.mailbox":        "of:NmailboxT(null)Cbrcm,bcm2711-vchiqCbrcm,bcm2835-vchiq",
		"devices/platform/soc/7d5d2000.avs-monitor/th": "of:NthermalT(null)Cbrcm,bcm2711-thermal",
		"devices/platform/soc/fe100000.watchdog":       "platform:bcm2835-wdt",
		"devices/platform/soc/fe215000.aux":            "of:NauxT(null)Cbrcm,bcm2835-aux",
		"devices/platform/soc":                         "of:NsocT(null)Csimple-bus",
		"devices/system/cpu/cpu0":                      "cpu:type:aarch64:feature:,0000,0006",
	}, map[string]string{"devices/platform/soc/fe215000.aux": "bcm2835-aux-clk"})
	aliases := mustAliases(t)
	var mu sync.Mutex
	var loaded []string
	p := &Plugger{
		Sys: sys, Aliases: aliases,
		Blacklist: []string{"bcm2835-wdt"},
		Load: func(m string) error {
			mu.Lock()
			loaded = append(loaded, m)
			mu.Unlock()
			switch m {
			case "fixed":
				return errors.New("no such device")
			case "vchiq":
				// vchiq registers the camera as it probes.
				addDevice(t, sys, "devices/platform/soc/fe00b840.mailbox/bcm2835-camera", "platform:bcm2835-camera", "")
				bind(t, sys, "devices/platform/soc/fe00b840.mailbox", "bcm2835_vchiq")
			case "bcm2835_v4l2":
				bind(t, sys, "devices/platform/soc/fe00b840.mailbox/bcm2835-camera", "bcm2835-camera")
			case "bcm2711_thermal":
				bind(t, sys, "devices/platform/soc/7d5d2000.avs-monitor/th", "bcm2711_thermal")
			case "gpio_regulator":
				bind(t, sys, "devices/platform/sd_io_1v8_reg", "gpio-regulator")
			}
			return nil
		},
	}
	n, err := p.Coldplug()
	if err != nil {
		t.Fatal(err)
	}
	if n != 8 {
		t.Errorf("Coldplug tried %d modules, want 8", n)
	}
	// Path order; the camera comes in the second pass; the blacklisted
	// watchdog driver is never loaded.
	want := []string{"sdhci_iproc", "gpio_regulator", "fixed", "bcm2711_thermal", "vchiq", "sha2_ce", "bcm2835_v4l2"}
	if diff := cmp.Diff(want, loaded); diff != "" {
		t.Errorf("loaded (-want +got):\n%s", diff)
	}
	loaded = nil
	if n, _ := p.Coldplug(); n != 0 || len(loaded) != 0 {
		t.Errorf("second Coldplug tried %d, loaded %v; want nothing (each module once)", n, loaded)
	}

	r := p.Result()
	errText := cmp.Transformer("err", func(e error) string {
		if e == nil {
			return ""
		}
		return e.Error()
	})
	names := func(ls []Load) []string {
		var out []string
		for _, l := range ls {
			out = append(out, l.Module)
		}
		return out
	}
	if diff := cmp.Diff([]string{"sdhci_iproc", "gpio_regulator", "bcm2711_thermal", "vchiq", "sha2_ce", "bcm2835_v4l2"}, names(r.Loaded)); diff != "" {
		t.Errorf("Result.Loaded (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Load{{Module: "fixed", Devices: []string{"devices/platform/sd_vcc_reg"}, Err: errors.New("no such device")}}, r.Failed, errText, cmpopts.IgnoreFields(Load{}, "Took")); diff != "" {
		t.Errorf("Result.Failed (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]Load{{Module: "bcm2835_wdt", Devices: []string{"devices/platform/soc/fe100000.watchdog"}}}, r.Skipped, errText); diff != "" {
		t.Errorf("Result.Skipped (-want +got):\n%s", diff)
	}
	wantUnbound := []Unbound{
		{Device: Device{Path: "devices/platform/emmc2bus/fe340000.mmc", Subsystem: "platform", Modalias: "of:NmmcT(null)Cbrcm,bcm2711-emmc2"}, Modules: []string{"sdhci_iproc"}},
		{Device: Device{Path: "devices/platform/sd_vcc_reg", Subsystem: "platform", Modalias: "of:Nsd_vcc_regT(null)Cregulator-fixed"}, Modules: []string{"fixed"}},
		{Device: Device{Path: "devices/platform/soc", Subsystem: "platform", Modalias: "of:NsocT(null)Csimple-bus"}},
		{Device: Device{Path: "devices/platform/soc/fe100000.watchdog", Subsystem: "platform", Modalias: "platform:bcm2835-wdt"}, Modules: []string{"bcm2835_wdt"}},
	}
	if diff := cmp.Diff(wantUnbound, r.Unbound); diff != "" {
		t.Errorf("Result.Unbound (-want +got):\n%s", diff)
	}
}

// TestColdplugFirst: a walk loads the modules named in First (the
// recorder's path) before the others, whatever their devices' order,
// and each load's time is kept.
func TestColdplugFirst(t *testing.T) {
	sys := fakeSys(t, map[string]string{
		"devices/platform/emmc2bus/fe340000.mmc": "of:NmmcT(null)Cbrcm,bcm2711-emmc2",
		"devices/platform/soc/7d5d2000.thermal":  "of:NthermalT(null)Cbrcm,bcm2711-thermal",
		"devices/platform/soc/fe00b840.mailbox":  "of:NmailboxT(null)Cbrcm,bcm2835-vchiq",
		"devices/platform/soc/fe100000.watchdog": "platform:bcm2835-wdt",
		"devices/platform/sd_io_1v8_reg":         "of:Nsd_io_1v8_regT(null)Cregulator-gpio",
	}, nil)
	aliases := mustAliases(t)
	var loaded, atFirstDone []string
	firstDone := 0
	p := &Plugger{Sys: sys, Aliases: aliases, First: []string{"vchiq", "sdhci-iproc"},
		FirstDone: func() { firstDone++; atFirstDone = append(atFirstDone, loaded...) },
		Load: func(m string) error {
			loaded = append(loaded, m)
			if m == "vchiq" {
				time.Sleep(2 * time.Millisecond) // a load that takes measurable time
			}
			return nil
		}}
	if _, err := p.Coldplug(); err != nil {
		t.Fatal(err)
	}
	want := []string{"sdhci_iproc", "vchiq", "gpio_regulator", "bcm2711_thermal", "bcm2835_wdt"}
	if diff := cmp.Diff(want, loaded); diff != "" {
		t.Errorf("loaded (-want +got):\n%s", diff)
	}
	// Once, when the First modules were tried and nothing else yet.
	if diff := cmp.Diff(want[:2], atFirstDone); firstDone != 1 || diff != "" {
		t.Errorf("FirstDone called %d times; loaded when called (-want +got):\n%s", firstDone, diff)
	}
	for _, l := range p.Result().Loaded {
		if l.Module == "vchiq" && l.Took < 2*time.Millisecond {
			t.Errorf("vchiq's Took = %v, want at least the 2ms its load took", l.Took)
		}
	}
}

// fakeEvents is a uevent source fed by the test.
type fakeEvents chan Uevent

func (f fakeEvents) read(timeout time.Duration) (Uevent, error) {
	select {
	case ev := <-f:
		return ev, nil
	case <-time.After(timeout):
		return Uevent{}, os.ErrDeadlineExceeded
	}
}

func (f fakeEvents) close() error { return nil }

// TestStartLoadsFirstDuringWalk: a device a First driver registers once
// it has probed (here a card behind an SD host, as the Pi 3's USB
// Ethernet is behind dwc2) arrives as a uevent while the first walk is
// still loading the other modules; its First module is loaded then, not
// after the walk. Here the other
// module's load cannot end until mmc_block has loaded: handling events
// only after the walk fails the test.
func TestStartLoadsFirstDuringWalk(t *testing.T) {
	sys := fakeSys(t, map[string]string{
		"devices/platform/emmc2bus/fe340000.mmc": "of:NmmcT(null)Cbrcm,bcm2711-emmc2",
		"devices/platform/soc/7d5d2000.thermal":  "of:NthermalT(null)Cbrcm,bcm2711-thermal",
	}, nil)
	aliases := mustAliases(t)
	card := "devices/platform/emmc2bus/fe340000.mmc/mmc_host/mmc0/mmc0:aaaa"
	evs := make(fakeEvents, 4)
	mmcLoaded := make(chan struct{})
	var mu sync.Mutex
	var loaded []string
	p := &Plugger{Sys: sys, Aliases: aliases, First: []string{"sdhci-iproc", "mmc_block"},
		openEvents: func() (events, error) { return evs, nil },
		// loaded is in the order the loads ended.
		Load: func(m string) error {
			done := func() {
				mu.Lock()
				loaded = append(loaded, m)
				mu.Unlock()
			}
			switch m {
			case "sdhci_iproc":
				done()
				addDevice(t, sys, card, "mmc:block", "")
				evs <- Uevent{Action: "add", Env: map[string]string{"DEVPATH": "/" + card, "SUBSYSTEM": "mmc", "MODALIAS": "mmc:block"}}
			case "mmc_block":
				done()
				close(mmcLoaded)
			case "bcm2711_thermal":
				select {
				case <-mmcLoaded:
				case <-time.After(10 * time.Second):
					t.Error("mmc_block was not loaded while the walk loaded the other modules")
				}
				done()
			}
			return nil
		}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.Start(ctx)
	mu.Lock()
	got := append([]string(nil), loaded...)
	mu.Unlock()
	if diff := cmp.Diff([]string{"sdhci_iproc", "mmc_block", "bcm2711_thermal"}, got); diff != "" {
		t.Errorf("loaded (-want +got):\n%s", diff)
	}
	// The card, seen during the walk, is one of the Plugger's devices.
	var unbound []string
	for _, u := range p.Result().Unbound {
		unbound = append(unbound, u.Path)
	}
	if !slices.Contains(unbound, card) {
		t.Errorf("Result.Unbound = %v, want the card %s among them", unbound, card)
	}
}

// TestFirstDoneWaitsForLoad: the uevent reader and the walk both try a
// First module (here the card was added between the socket's opening and
// the walk, so it is both an event and in sysfs). When the reader has
// begun loading mmc_block, the walk's try of it must wait for that load
// to end before FirstDone: the boot step that waits for the SD card
// counts its time from FirstDone. mmc_block's load here ends only when
// FirstDone comes or after a while; FirstDone during the load fails the
// test. (The wait is the only way to see a call that must not come yet.)
func TestFirstDoneWaitsForLoad(t *testing.T) {
	card := "devices/platform/emmc2bus/fe340000.mmc/mmc_host/mmc0/mmc0:aaaa"
	sys := fakeSys(t, map[string]string{
		"devices/platform/emmc2bus/fe340000.mmc": "of:NmmcT(null)Cbrcm,bcm2711-emmc2",
		card:                                     "mmc:block",
	}, nil)
	evs := make(fakeEvents, 1)
	evs <- Uevent{Action: "add", Env: map[string]string{"DEVPATH": "/" + card, "SUBSYSTEM": "mmc", "MODALIAS": "mmc:block"}}
	mmcStarted, firstDone := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var loaded, atFirstDone []string
	p := &Plugger{Sys: sys, Aliases: mustAliases(t), First: []string{"sdhci-iproc", "mmc_block"},
		openEvents: func() (events, error) { return evs, nil },
		FirstDone: func() {
			mu.Lock()
			atFirstDone = append([]string(nil), loaded...)
			mu.Unlock()
			close(firstDone)
		},
		Load: func(m string) error {
			switch m {
			case "sdhci_iproc": // the walk's: it goes on once the reader loads mmc_block
				<-mmcStarted
			case "mmc_block":
				close(mmcStarted)
				select {
				case <-firstDone:
				case <-time.After(300 * time.Millisecond):
				}
			}
			mu.Lock()
			loaded = append(loaded, m)
			mu.Unlock()
			return nil
		}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p.Start(ctx)
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(atFirstDone, "mmc_block") {
		t.Errorf("FirstDone came while mmc_block was loading; loaded then: %v", atFirstDone)
	}
}

// panicEvents is a uevent source whose read panics.
type panicEvents struct{ closed chan struct{} }

func (panicEvents) read(time.Duration) (Uevent, error) { panic("uevent reader broke") }
func (p panicEvents) close() error                     { close(p.closed); return nil }

// idleEvents is a uevent source with no events that says when it is
// closed.
type idleEvents struct{ closed chan struct{} }

func (idleEvents) read(d time.Duration) (Uevent, error) {
	time.Sleep(d) // a poll(2) that times out
	return Uevent{}, os.ErrDeadlineExceeded
}
func (e idleEvents) close() error { close(e.closed); return nil }

// TestStartSurvivesPanics: Start runs the first walk beside a uevent
// reader in a goroutine of its own, where a panic would end PID 1. A
// reader that panics is logged and its socket closed, and the walk goes
// on to load what the devices match. A walk that panics (here a
// FirstDone hook) stops the reader and closes its socket before the
// panic goes on to Start's caller (PID 1 recovers and reports it).
func TestStartSurvivesPanics(t *testing.T) {
	sys := fakeSys(t, map[string]string{
		"devices/platform/soc/fe00b840.mailbox": "of:NmailboxT(null)Cbrcm,bcm2835-vchiq",
	}, nil)
	aliases := mustAliases(t)
	newPlugger := func(ev events, logs *syncLog) *Plugger {
		return &Plugger{Sys: sys, Aliases: aliases, Rescan: time.Hour,
			openEvents: func() (events, error) { return ev, nil },
			Load:       func(string) error { return nil },
			Logf:       logs.add}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	t.Run("reader", func(t *testing.T) {
		var logs syncLog
		ev := panicEvents{closed: make(chan struct{})}
		p := newPlugger(ev, &logs)
		p.Start(ctx)
		select {
		case <-ev.closed:
		default:
			t.Error("the panicking reader's socket was not closed")
		}
		if got := p.Result().Loaded; len(got) != 1 || got[0].Module != "vchiq" {
			t.Errorf("Loaded = %v, want the walk's vchiq", got)
		}
		if want := "coldplug: panic while reading uevents: uevent reader broke"; !logs.has(want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	})
	t.Run("walk", func(t *testing.T) {
		var logs syncLog
		ev := idleEvents{closed: make(chan struct{})}
		p := newPlugger(ev, &logs)
		p.FirstDone = func() { panic("hook broke") }
		func() {
			defer func() {
				if r := recover(); r != "hook broke" {
					t.Errorf("Start's panic = %v, want the walk's", r)
				}
			}()
			p.Start(ctx)
		}()
		select {
		case <-ev.closed:
		default:
			t.Error("after the walk's panic the reader's socket is still open")
		}
	})
}

// syncLog collects log lines from several goroutines.
type syncLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *syncLog) add(f string, a ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(f, a...))
	l.mu.Unlock()
}

func (l *syncLog) has(prefix string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.lines, func(s string) bool { return strings.HasPrefix(s, prefix) })
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func TestParseUevent(t *testing.T) {
	msg := "add@/devices/platform/soc/3f980000.usb/usb1/1-1/1-1.1/1-1.1:1.0\x00ACTION=add\x00" +
		"DEVPATH=/devices/platform/soc/3f980000.usb/usb1/1-1/1-1.1/1-1.1:1.0\x00SUBSYSTEM=usb\x00" +
		"MODALIAS=usb:v0424pEC00d0200dcFFdsc00dp02icFFisc00ipFFin00\x00SEQNUM=1234\x00"
	got, err := ParseUevent([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	want := Uevent{Action: "add", Env: map[string]string{
		"ACTION": "add", "DEVPATH": "/devices/platform/soc/3f980000.usb/usb1/1-1/1-1.1/1-1.1:1.0",
		"SUBSYSTEM": "usb", "MODALIAS": "usb:v0424pEC00d0200dcFFdsc00dp02icFFisc00ipFFin00", "SEQNUM": "1234",
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseUevent (-want +got):\n%s", diff)
	}
	if _, err := ParseUevent([]byte("libudev\x00\xfe\xed")); err == nil {
		t.Error("ParseUevent(udev's rebroadcast) = nil error, want one")
	}
}

func TestCmdlineBlacklist(t *testing.T) {
	got := CmdlineBlacklist("console=ttyAMA0 module_blacklist=bcm2835_wdt,vc4 quiet modprobe.blacklist=snd_bcm2835 module_blacklist=")
	if diff := cmp.Diff([]string{"bcm2835_wdt", "vc4", "snd_bcm2835"}, got); diff != "" {
		t.Errorf("CmdlineBlacklist (-want +got):\n%s", diff)
	}
}

// TestColdplugEvents: after one walk, devices arrive only as uevents (as
// Start has them): an added device's module is loaded and, unbound, it is
// in Result; a removed one is forgotten; Result reads each known device's
// driver link instead of walking sysfs again.
func TestColdplugEvents(t *testing.T) {
	sys := fakeSys(t, map[string]string{
		"devices/platform/soc/fe00b840.mailbox":  "of:NmailboxT(null)Cbrcm,bcm2835-vchiq",
		"devices/platform/soc/fe100000.watchdog": "platform:bcm2835-wdt",
	}, nil)
	aliases := mustAliases(t)
	var loaded []string
	p := &Plugger{Sys: sys, Aliases: aliases, Load: func(m string) error {
		loaded = append(loaded, m)
		if m == "vchiq" {
			bind(t, sys, "devices/platform/soc/fe00b840.mailbox", "bcm2835_vchiq")
		}
		return nil
	}}
	if n, err := p.walk(); err != nil || n != 2 {
		t.Fatalf("walk = %d, %v; want 2 modules tried", n, err)
	}
	// The camera vchiq registers, as its uevent; the watchdog goes away.
	cam := "devices/platform/soc/fe00b840.mailbox/bcm2835-camera"
	addDevice(t, sys, cam, "platform:bcm2835-camera", "")
	p.event(Uevent{Action: "add", Env: map[string]string{"DEVPATH": "/" + cam, "SUBSYSTEM": "platform", "MODALIAS": "platform:bcm2835-camera"}})
	p.event(Uevent{Action: "bind", Env: map[string]string{"DEVPATH": "/" + cam, "MODALIAS": "platform:bcm2835-camera"}})
	p.event(Uevent{Action: "remove", Env: map[string]string{"DEVPATH": "/devices/platform/soc/fe100000.watchdog"}})
	if diff := cmp.Diff([]string{"vchiq", "bcm2835_wdt", "bcm2835_v4l2"}, loaded); diff != "" {
		t.Errorf("loaded (-want +got):\n%s", diff)
	}
	want := []Unbound{{Device: Device{Path: cam, Subsystem: "platform", Modalias: "platform:bcm2835-camera"}, Modules: []string{"bcm2835_v4l2"}}}
	if diff := cmp.Diff(want, p.Result().Unbound); diff != "" {
		t.Errorf("Result.Unbound (-want +got):\n%s", diff)
	}
	bind(t, sys, cam, "bcm2835-camera")
	if u := p.Result().Unbound; len(u) != 0 {
		t.Errorf("Result.Unbound = %v after the camera bound, want none", u)
	}
}

// TestWatchSurvivesPanics: the watch runs in a goroutine of its own, so
// a panic there (a module loader's, a hook's) would end PID 1. A load
// that panics is that module's error; a panic elsewhere in a walk is
// logged; either way the watch goes on and loads the next device's
// module.
func TestWatchSurvivesPanics(t *testing.T) {
	sys := fakeSys(t, map[string]string{
		"devices/platform/soc/fe00b840.mailbox": "of:NmailboxT(null)Cbrcm,bcm2835-vchiq",
	}, nil)
	aliases := mustAliases(t)
	loaded := make(chan string, 4)
	var mu sync.Mutex
	var logs []string
	p := &Plugger{Sys: sys, Aliases: aliases, Rescan: time.Millisecond,
		Load: func(m string) error {
			if m == "vchiq" {
				panic("vchiq loader broke")
			}
			loaded <- m
			return nil
		},
		FirstDone: func() { panic("hook broke") },
		Logf: func(f string, a ...any) {
			mu.Lock()
			logs = append(logs, fmt.Sprintf(f, a...))
			mu.Unlock()
		},
	}
	// The hook panics in the first walk, before the second pass would
	// load the watchdog's module; vchiq's load panics in the next.
	addDevice(t, sys, "devices/platform/soc/fe100000.watchdog", "platform:bcm2835-wdt", "")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.watch(ctx, nil); close(done) }()
	if m := <-loaded; m != "bcm2835_wdt" {
		t.Errorf("loaded %s, want bcm2835_wdt", m)
	}
	cancel()
	<-done
	r := p.Result()
	if len(r.Failed) != 1 || r.Failed[0].Module != "vchiq" || !strings.Contains(fmt.Sprint(r.Failed[0].Err), "vchiq loader broke") {
		t.Errorf("Failed = %v, want vchiq with its panic", r.Failed)
	}
	mu.Lock()
	defer mu.Unlock()
	found := false
	for _, l := range logs {
		found = found || strings.Contains(l, "panic while walking sysfs: hook broke")
	}
	if !found {
		t.Errorf("no log line for the hook's panic in %q", logs)
	}
}
