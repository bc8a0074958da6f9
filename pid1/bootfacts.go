package pid1

import (
	"strings"
	"sync"

	"github.com/camwire/camwire/bootreport"
)

// bootFacts is what PID 1 learns for the boot report that nobody can read
// back later: which modules it tried and how they failed, why the boot
// partition is not mounted, what happened to the address. The recorder,
// PID 1's child, sends the report; it reads these from
// bootreport.InitFile, which bootFacts rewrites on every change.
type bootFacts struct {
	path string // bootreport.InitFile; "" keeps them in memory only (tests)
	logf func(string, ...any)

	mu sync.Mutex
	in bootreport.Init
}

func (b *bootFacts) update(f func(*bootreport.Init)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(&b.in)
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
	b.update(func(in *bootreport.Init) {
		for _, n := range names {
			n = strings.TrimSpace(n)
			if n != "" {
				in.Modules = append(in.Modules, bootreport.Module{Name: n, Err: failed[n]})
			}
		}
		for _, o := range other {
			in.Modules = append(in.Modules, bootreport.Module{Name: "(loader)", Err: o})
		}
	})
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
