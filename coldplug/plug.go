package coldplug

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Plugger loads the modules that the machine's devices match: once for
// every device already registered (coldplug), then for each device that
// appears later, until its context ends. Each module is tried once; what
// happened is kept for Result.
type Plugger struct {
	// Sys is the sysfs root; "" means /sys.
	Sys string
	// Aliases is modules.alias of the running kernel's module tree.
	Aliases *Aliases
	// Load loads one module with its dependencies (see KmodLoader).
	Load func(module string) error
	// Blacklist names modules never loaded, as the kernel's
	// module_blacklist= and modprobe.blacklist= ask (see
	// CmdlineBlacklist); they show in Result.Skipped.
	Blacklist []string
	// Logf receives a line per module loaded or failed; nil discards.
	Logf func(format string, args ...any)
	// Rescan is how often sysfs is walked again when uevents cannot be
	// read (no netlink socket, or events lost); zero means 2 s.
	Rescan time.Duration
	// First names the modules a walk loads before the others its
	// devices match (the network card, the SD card, the camera: what the
	// first frame waits for); '-' and '_' are the same.
	First []string
	// FirstDone, if set, is called once, when the first walk of sysfs
	// has tried the First modules its devices match, before the others:
	// a boot step that waits for one of those devices (the SD card)
	// starts counting its time then.
	FirstDone func()

	firstDone sync.Once
	// openEvents opens the uevent source; nil means the kernel's socket.
	// Tests give their own.
	openEvents func() (events, error)

	mu    sync.Mutex
	tried map[string]*Load
	// ended has a channel per module tried, closed when its load has
	// ended: a second try (the walk and the uevent reader both try a
	// First module) waits on it, so FirstDone cannot come while the
	// load is still going on in the other goroutine.
	ended map[string]chan struct{}
	order []string
	// devs is every device with a modalias seen so far, by path: the
	// walk's and those uevents added since. Result looks only at these
	// instead of walking sysfs again.
	devs     map[string]Device
	scanErr  error
	scanTook time.Duration
}

// Load is one module the Plugger tried.
type Load struct {
	Module string
	// Devices are the sysfs paths of the devices that matched it.
	Devices []string
	// Err is why loading failed; nil when it loaded.
	Err error
	// Took is how long the load took (with its dependencies).
	Took time.Duration
}

// Unbound is a device that has no driver.
type Unbound struct {
	Device
	// Modules are the modules it matched, all tried already: the
	// driver's probe failed or is deferred (a supplier such as a
	// regulator or clock is missing). Empty: no module in
	// modules.alias matches, so either it needs none or the image lacks
	// the module.
	Modules []string
}

// Result is what the Plugger did, for the boot report: modules loaded,
// failed (with the kernel's error), skipped by a blacklist, and the
// devices that are still without a driver.
type Result struct {
	Loaded, Failed, Skipped []Load
	Unbound                 []Unbound
	// ScanErr is set when sysfs could not be walked at all.
	ScanErr error
	// ScanTook is how long the last walk of sysfs took (without the
	// module loads).
	ScanTook time.Duration
}

func (p *Plugger) sys() string {
	if p.Sys == "" {
		return "/sys"
	}
	return p.Sys
}

func (p *Plugger) logf(format string, args ...any) {
	if p.Logf != nil {
		p.Logf(format, args...)
	}
}

// Coldplug walks sysfs and loads what the devices match, again and again
// while a pass loads something new (a driver often registers child
// devices as it probes: vchiq's camera, a USB root hub). It returns the
// number of modules tried.
func (p *Plugger) Coldplug() (int, error) {
	total := 0
	for pass := 0; pass < 20; pass++ {
		n, err := p.walk()
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
	return total, nil
}

// walk is one pass over sysfs: it tries what every device matches and
// returns how many modules were new.
func (p *Plugger) walk() (int, error) {
	t0 := time.Now()
	devs, err := Scan(p.sys())
	p.mu.Lock()
	p.scanTook = time.Since(t0)
	p.scanErr = err
	if err == nil {
		p.devs = map[string]Device{}
		for _, d := range devs {
			p.devs[d.Path] = d
		}
	}
	p.mu.Unlock()
	// The recorder's path first (First), then the rest, each in path
	// order.
	n := 0
	for _, first := range []bool{true, false} {
		for _, d := range devs {
			n += p.device(d.Path, d.Modalias, first)
		}
		if first && p.FirstDone != nil {
			p.firstDone.Do(p.FirstDone)
		}
	}
	return n, err
}

// event handles one uevent: an added device's modules are tried, a
// removed one is forgotten.
func (p *Plugger) event(ev Uevent) {
	path := strings.TrimPrefix(ev.Env["DEVPATH"], "/")
	alias := ev.Env["MODALIAS"]
	switch {
	case ev.Action == "add" && alias != "":
		p.mu.Lock()
		if p.devs == nil {
			p.devs = map[string]Device{}
		}
		p.devs[path] = Device{Path: path, Subsystem: ev.Env["SUBSYSTEM"], Modalias: alias}
		p.mu.Unlock()
		p.device(path, alias, true)
		p.device(path, alias, false)
	case ev.Action == "remove":
		p.mu.Lock()
		delete(p.devs, path)
		p.mu.Unlock()
	}
}

// eventFirst tries an added device's First modules only (walkWatching).
func (p *Plugger) eventFirst(ev Uevent) {
	if alias := ev.Env["MODALIAS"]; ev.Action == "add" && alias != "" {
		p.device(strings.TrimPrefix(ev.Env["DEVPATH"], "/"), alias, true)
	}
}

// device tries the modules one device matches that are (first) or are
// not in First; it returns how many were new.
func (p *Plugger) device(path, modalias string, first bool) int {
	n := 0
	for _, m := range p.Aliases.Match(modalias) {
		if p.isFirst(m) == first && p.try(m, path) {
			n++
		}
	}
	return n
}

func (p *Plugger) isFirst(module string) bool {
	key := strings.ReplaceAll(module, "-", "_")
	for _, f := range p.First {
		if strings.ReplaceAll(f, "-", "_") == key {
			return true
		}
	}
	return false
}

// try loads module unless it was tried before; it returns whether it
// was new.
func (p *Plugger) try(module, dev string) bool {
	key := strings.ReplaceAll(module, "-", "_")
	p.mu.Lock()
	if p.tried == nil {
		p.tried = map[string]*Load{}
	}
	if l, ok := p.tried[key]; ok {
		if !slices.Contains(l.Devices, dev) {
			l.Devices = append(l.Devices, dev)
		}
		ended := p.ended[key]
		p.mu.Unlock()
		<-ended
		return false
	}
	l := &Load{Module: module, Devices: []string{dev}}
	ended := make(chan struct{})
	p.tried[key] = l
	if p.ended == nil {
		p.ended = map[string]chan struct{}{}
	}
	p.ended[key] = ended
	p.order = append(p.order, key)
	p.mu.Unlock()
	// Closed however the load ends, a panic in it included: PID 1
	// recovers that, and a waiting try must not hang on it.
	defer close(ended)

	if p.blacklisted(key) {
		p.logf("coldplug: %s skipped (blacklisted on the kernel command line) for %s", module, dev)
		return true
	}
	t := time.Now()
	err := p.load(module)
	took := time.Since(t).Round(time.Millisecond)
	p.mu.Lock()
	l.Err, l.Took = err, took
	p.mu.Unlock()
	if err != nil {
		p.logf("coldplug: %s for %s: %v (after %v)", module, dev, err, took)
	} else {
		p.logf("coldplug: %s loaded for %s in %v", module, dev, took)
	}
	return true
}

func (p *Plugger) blacklisted(key string) bool {
	for _, b := range p.Blacklist {
		if strings.ReplaceAll(b, "-", "_") == key {
			return true
		}
	}
	return false
}

// Start does the coldplug and returns; devices that appear afterwards are
// handled in the background until ctx ends. The uevent socket is opened
// before the one walk of sysfs, so a device that appears in between is
// not missed; the devices that the loaded drivers registered meanwhile
// (vchiq's camera, a USB root hub) are read beside the walk
// (walkWatching) and handled before Start returns. A sysfs walk is slow
// on a slow machine (seconds under QEMU's emulation), so it is walked
// again only when events were lost. Without uevents (no socket) sysfs is
// walked until a pass loads nothing new, then every Rescan.
func (p *Plugger) Start(ctx context.Context) {
	open := p.openEvents
	if open == nil {
		open = openKernelEvents
	}
	sock, err := open()
	if err != nil {
		p.logf("coldplug: %v; walking sysfs every %v instead", err, p.rescan())
		if _, err := p.Coldplug(); err != nil {
			p.logf("coldplug: %v", err)
		}
		go p.watch(ctx, nil)
		return
	}
	sock = p.walkWatching(sock)
	if sock != nil {
		sock = p.drain(sock)
	}
	go p.watch(ctx, sock)
}

// events is where uevents come from: the kernel's socket (ueventSocket),
// or a test's.
type events interface {
	// read returns the next event, waiting at most timeout;
	// os.ErrDeadlineExceeded when none came.
	read(timeout time.Duration) (Uevent, error)
	close() error
}

func openKernelEvents() (events, error) {
	s, err := openUevents()
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return s, nil
}

// walkWatching is the first walk of sysfs with the uevents read beside
// it. A device that a First driver registers while the walk goes on to
// the other modules (the Pi 3's USB Ethernet once dwc2's root hub has
// enumerated it) gets its First modules (smsc95xx, lan78xx, cdc_ether)
// at once instead of after the whole walk: loading every other module a
// board's device tree matches takes seconds under QEMU's emulation
// (7.7 s for raspi3b's 11 on a loaded host), and the first frame waits
// for the network. (The SD card needs no such module: Debian's arm64
// kernel has mmc_block built in.) The walk runs on the caller's
// thread (PID 1's is at nice 10); the reader on another, at the
// process's priority. The events' other modules and their bookkeeping
// come after the walk, in arrival order. It returns the socket, or nil
// when reading failed (the caller rescans then).
func (p *Plugger) walkWatching(sock events) events {
	type early struct {
		queued  []Uevent
		overrun bool
		sock    events
	}
	stop := make(chan struct{})
	res := make(chan early, 1)
	go func() {
		e := early{sock: sock}
		defer func() { res <- e }()
		// A goroutine of its own, where no caller's recover reaches: a
		// panic here (a malformed event's parse, a hook's) would end
		// PID 1. It ends the reading instead; the watch then rescans.
		defer func() {
			if r := recover(); r != nil {
				p.logf("coldplug: panic while reading uevents: %v; walking sysfs every %v instead", r, p.rescan())
				sock.close()
				e.sock = nil
			}
		}()
		for {
			select {
			case <-stop:
				return
			default:
			}
			// The timeout bounds how long the walk's end waits for
			// this reader.
			ev, err := sock.read(50 * time.Millisecond)
			switch {
			case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, errIgnored):
			case errors.Is(err, errOverrun):
				e.overrun = true
			case err != nil:
				p.logf("coldplug: %v; walking sysfs every %v instead", err, p.rescan())
				sock.close()
				e.sock = nil
				return
			default:
				p.guard(fmt.Sprintf("%s uevent for %s", ev.Action, ev.Env["DEVPATH"]), func() { p.eventFirst(ev) })
				e.queued = append(e.queued, ev)
			}
		}
	}()
	walked := false
	defer func() {
		if !walked {
			// The walk panicked: the panic goes on to Start's caller
			// (PID 1 reports it), but first the reader stops and its
			// socket is closed, else it would read, load and queue
			// events for as long as PID 1 runs.
			close(stop)
			if e := <-res; e.sock != nil {
				e.sock.close()
			}
		}
	}()
	if _, err := p.walk(); err != nil {
		p.logf("coldplug: %v", err)
	}
	walked = true
	close(stop)
	e := <-res
	for _, ev := range e.queued {
		p.guard(fmt.Sprintf("%s uevent for %s", ev.Action, ev.Env["DEVPATH"]), func() { p.event(ev) })
	}
	if e.overrun {
		p.logf("coldplug: %v; walking sysfs again", errOverrun)
		p.Coldplug()
	}
	return e.sock
}

// drain handles the uevents already queued, until none is left. It
// returns the socket, or nil when it failed or panicked (the caller
// rescans then).
func (p *Plugger) drain(sock events) (_ events) {
	defer func() {
		if r := recover(); r != nil {
			p.logf("coldplug: panic while reading uevents: %v; walking sysfs every %v instead", r, p.rescan())
			sock.close() // nil is returned
		}
	}()
	for {
		ev, err := sock.read(0)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			return sock
		case errors.Is(err, errIgnored):
		case errors.Is(err, errOverrun):
			p.logf("coldplug: %v; walking sysfs again", err)
			p.Coldplug()
		case err != nil:
			p.logf("coldplug: %v; walking sysfs every %v instead", err, p.rescan())
			sock.close()
			return nil
		default:
			p.event(ev)
		}
	}
}

func (p *Plugger) rescan() time.Duration {
	if p.Rescan > 0 {
		return p.Rescan
	}
	return 2 * time.Second
}

// load is Load with a panic turned into the module's error: the module
// shows in Result.Failed instead of as loaded, and the watch goes on.
func (p *Plugger) load(module string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic while loading: %v", r)
		}
	}()
	return p.Load(module)
}

// watch runs in its own goroutine, where no caller's recover reaches: a
// panic there would end the process, PID 1. Each walk and each event is
// handled under guard, so a panic is logged and the watch goes on with
// the next one.
func (p *Plugger) watch(ctx context.Context, sock events) {
	if sock != nil {
		defer sock.close()
	}
	for ctx.Err() == nil {
		if sock == nil {
			select {
			case <-ctx.Done():
			case <-time.After(p.rescan()):
				p.guard("walking sysfs", func() { p.Coldplug() })
			}
			continue
		}
		ev, err := sock.read(500 * time.Millisecond)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, errIgnored):
		case errors.Is(err, errOverrun):
			p.logf("coldplug: %v; walking sysfs again", err)
			p.guard("walking sysfs", func() { p.Coldplug() })
		case err != nil:
			p.logf("coldplug: %v; walking sysfs every %v instead", err, p.rescan())
			sock.close()
			sock = nil
		default:
			p.guard(fmt.Sprintf("%s uevent for %s", ev.Action, ev.Env["DEVPATH"]), func() { p.event(ev) })
		}
	}
}

// guard runs f and logs a panic in it, naming what f was doing.
func (p *Plugger) guard(what string, f func()) {
	defer func() {
		if r := recover(); r != nil {
			p.logf("coldplug: panic while %s: %v (watching on)", what, r)
		}
	}()
	f()
}

// Result is what was loaded so far, and the devices without a driver as
// sysfs shows them now: the devices seen (the walk's and the uevents'),
// each's driver link read again, not a new walk. Processors are left out of Unbound: their
// modalias lists CPU features, which modules match to offer a faster
// implementation (crypto), never to bind.
func (p *Plugger) Result() Result {
	var r Result
	p.mu.Lock()
	matched := map[string][]string{}
	for _, k := range p.order {
		l := *p.tried[k]
		l.Devices = slices.Clone(l.Devices)
		switch {
		case p.blacklisted(k):
			r.Skipped = append(r.Skipped, l)
		case l.Err != nil:
			r.Failed = append(r.Failed, l)
		default:
			r.Loaded = append(r.Loaded, l)
		}
		for _, d := range l.Devices {
			matched[d] = append(matched[d], l.Module)
		}
	}
	devs := make([]Device, 0, len(p.devs))
	for _, d := range p.devs {
		devs = append(devs, d)
	}
	r.ScanErr, r.ScanTook = p.scanErr, p.scanTook
	p.mu.Unlock()
	sort.Slice(devs, func(i, j int) bool { return devs[i].Path < devs[j].Path })
	sys := p.sys()
	for _, d := range devs {
		if d.Subsystem == "cpu" {
			continue
		}
		dir := filepath.Join(sys, filepath.FromSlash(d.Path))
		if d.Driver = driverOf(dir); d.Driver != "" {
			continue
		}
		if _, err := os.Lstat(dir); err != nil {
			continue // gone, its remove event not read yet
		}
		r.Unbound = append(r.Unbound, Unbound{Device: d, Modules: matched[d.Path]})
	}
	return r
}

// CmdlineBlacklist returns the modules the kernel command line keeps out:
// module_blacklist= (the kernel refuses them) and modprobe.blacklist=
// (what modprobe honours), both comma-separated.
func CmdlineBlacklist(cmdline string) []string {
	var out []string
	for _, f := range strings.Fields(cmdline) {
		k, v, ok := strings.Cut(f, "=")
		if ok && (k == "module_blacklist" || k == "modprobe.blacklist") {
			for _, m := range strings.Split(v, ",") {
				if m != "" {
					out = append(out, m)
				}
			}
		}
	}
	return out
}
