package coldplug

import (
	"fmt"

	"github.com/u-root/u-root/pkg/kmodule"
)

// KmodLoader returns a Plugger.Load that loads a module and its
// dependencies (modules.dep) with u-root's kmodule. opts are kmodule's:
// the zero value is the running kernel's /lib/modules/<release>. One
// prober serves every call, so a module shared by several drivers is
// loaded once and a failed one is not retried.
func KmodLoader(opts kmodule.ProbeOpts) (func(string) error, error) {
	pr, err := kmodule.NewProber(opts)
	if err != nil {
		return nil, fmt.Errorf("modules: %w", err)
	}
	return KmodLoad(pr), nil
}

// KmodLoad is a Plugger.Load on a prober the caller already has (one
// that loaded the named modules: modules.dep is parsed once, and what it
// loaded counts as loaded).
func KmodLoad(pr *kmodule.Prober) func(string) error {
	return func(m string) error { return pr.Probe(m, "") }
}
