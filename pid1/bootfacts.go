package pid1

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/camwire/camwire/bootreport"
	"github.com/camwire/camwire/coldplug"
)

// bootFacts is what PID 1 learns for the boot report that nobody can read
// back later: which modules it tried and how they failed, why the boot
// partition is not mounted, what happened to the address. The recorder,
// PID 1's child, sends the report; it reads these from
// bootreport.InitFile, which bootFacts rewrites on every change.
type bootFacts struct {
	path string // bootreport.InitFile; "" keeps them in memory only (tests)
	logf func(string, ...any)
	// report, once set, is read again at every write: the coldplug goes
	// on loading drivers for devices that appear later (USB NICs).
	report func() Modules

	mu    sync.Mutex
	in    bootreport.Init
	extra []bootreport.Module // modules= of the settings, loaded by name after the coldplug
}

// setModules makes the modules step's report (Init.ModuleReport) the
// source of the module lines from now on.
func (b *bootFacts) setModules(report func() Modules) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.report = report
	b.mu.Unlock()
	b.update(func(*bootreport.Init) {})
}

// modulesFor turns the modules step's outcome into the report's lines:
// the named modules, then what the coldplug loaded, failed and skipped,
// then the settings' modules=; and the devices still without a driver.
func modulesFor(m Modules, extra []bootreport.Module) ([]bootreport.Module, []string) {
	var mods []bootreport.Module
	add := func(l coldplug.Load, how string) {
		bm := bootreport.Module{Name: l.Module}
		if l.Err != nil {
			bm.Err = how + l.Err.Error()
		}
		mods = append(mods, bm)
	}
	named := map[string]bool{}
	for _, l := range m.Named {
		add(l, "")
		named[strings.ReplaceAll(l.Module, "-", "_")] = true
	}
	for _, l := range m.Coldplug.Loaded {
		// A module loaded by name that a device matched too (virt's
		// NIC) is listed once.
		if !named[strings.ReplaceAll(l.Module, "-", "_")] {
			add(l, "")
		}
	}
	for _, l := range m.Coldplug.Failed {
		add(l, "")
	}
	for _, l := range m.Coldplug.Skipped {
		if l.Err == nil {
			l.Err = errors.New("blacklisted")
		}
		add(l, "skipped: ")
	}
	mods = append(mods, extra...)
	var unbound []string
	for _, u := range m.Coldplug.Unbound {
		s := fmt.Sprintf("%s (%s)", u.Path, u.Modalias)
		if len(u.Modules) > 0 {
			s += ": " + strings.Join(u.Modules, ", ") + " loaded but did not bind"
		}
		unbound = append(unbound, s)
	}
	if m.Coldplug.ScanErr != nil {
		unbound = append(unbound, "sysfs not walked: "+m.Coldplug.ScanErr.Error())
	}
	return mods, unbound
}

func (b *bootFacts) update(f func(*bootreport.Init)) {
	if b == nil {
		return // an Init not started by Run (tests)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	f(&b.in)
	if b.report != nil {
		m := b.report()
		b.in.Modules, b.in.Unbound = modulesFor(m, b.extra)
		b.in.Loading = m.Loading
	}
	if b.path == "" {
		return
	}
	if err := bootreport.WriteInit(b.path, b.in); err != nil && b.logf != nil {
		b.logf("boot report: %v", err)
	}
}

// modules records one LoadModules round: names tried, errors returned
// (each "module NAME: …", as LoadModules words them).
func (b *bootFacts) modules(names []string, errs []error) {
	failed := map[string]string{}
	var other []string
	for _, err := range errs {
		msg := err.Error()
		if rest, ok := strings.CutPrefix(msg, "module "); ok {
			if name, why, ok := strings.Cut(rest, ": "); ok {
				failed[name] = why
				continue
			}
		}
		other = append(other, msg)
	}
	var mods []bootreport.Module
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n != "" {
			mods = append(mods, bootreport.Module{Name: n, Err: failed[n]})
		}
	}
	for _, o := range other {
		mods = append(mods, bootreport.Module{Name: "(loader)", Err: o})
	}
	if b == nil {
		return
	}
	b.mu.Lock()
	b.extra = append(b.extra, mods...)
	b.mu.Unlock()
	b.update(func(in *bootreport.Init) { in.Modules = append(in.Modules, mods...) })
}

func (b *bootFacts) board(name string) {
	b.update(func(in *bootreport.Init) { in.Board = name })
}

func (b *bootFacts) boot(ok bool, msg string) {
	b.update(func(in *bootreport.Init) { in.BootOK, in.Boot = ok, msg })
}

// network records a claim or a conflict; conflict is "" for a claim.
func (b *bootFacts) network(note, conflict string) {
	b.update(func(in *bootreport.Init) {
		in.Network = append(in.Network, note)
		if conflict != "" {
			in.Conflict = conflict
		}
	})
}
