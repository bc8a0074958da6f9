package bootreport

import (
	"fmt"
	"strings"
)

// maxListed bounds the long lists (loaded modules, unbound devices,
// kernel lines) so a report stays readable and far below the protocol's
// limit; the count of the rest is given.
const maxListed = 40

// Issues are the report's problems in words, most important first: what
// a user has to act on. An empty list means nothing looks wrong.
func (r Report) Issues() []string {
	var out []string
	if r.Video != "" && r.VideoUsed && !r.VideoOK {
		out = append(out, "no "+r.Video+": "+r.VideoReason)
	}
	if r.Init != nil && r.Init.Conflict != "" {
		out = append(out, "address conflict: "+r.Init.Conflict)
	}
	for _, n := range r.Notes {
		// A recorder that keeps its own link (camwire-init -network)
		// notes its conflicts itself.
		if c, ok := strings.CutPrefix(n, "network: address conflict: "); ok {
			out = append(out, "address conflict: "+c)
		}
	}
	if r.Init != nil {
		out = append(out, r.Init.Faults...)
	}
	if !r.BootOK {
		why := "boot partition " + r.Boot
		if r.Init != nil && r.Init.Boot != "" {
			why += ": " + r.Init.Boot
		}
		out = append(out, why)
	}
	if r.Init != nil {
		var failed []string
		for _, m := range r.Init.Modules {
			// A module kept out on purpose (module_blacklist=) is listed
			// with its reason, not counted as a failure.
			if m.Err != "" && !strings.HasPrefix(m.Err, "skipped: ") {
				failed = append(failed, m.Name)
			}
		}
		if len(failed) > 0 {
			out = append(out, fmt.Sprintf("%d modules failed (%s)", len(failed), strings.Join(failed, ", ")))
		}
	}
	if n := len(r.Problems); n > 0 {
		out = append(out, fmt.Sprintf("%d settings problems", n))
	}
	if len(r.Links) > 0 && !r.anyLinkUp() {
		out = append(out, "no network link up")
	}
	if strings.Contains(r.Throttle, "under-voltage now: YES") {
		out = append(out, "under-voltage: use a stronger power supply")
	}
	return out
}

func (r Report) anyLinkUp() bool {
	for _, l := range r.Links {
		if l.State == "up" {
			return true
		}
	}
	return false
}

// Summary is the report's first line: the camera, its board and what is
// wrong, if anything.
func (r Report) Summary() string {
	board := r.Model
	if board == "" {
		board = "unknown board"
	}
	s := fmt.Sprintf("camwire boot report: %s on %s, camwire %s", r.Name, board, r.Version)
	if is := r.Issues(); len(is) > 0 {
		return s + ": " + strings.Join(is, "; ")
	}
	return s + ": no problems found"
}

// Text renders the report: the summary line, then one section per part.
func (r Report) Text() string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	list := func(title string, items []string) {
		if len(items) == 0 {
			line("%s: none", title)
			return
		}
		line("%s (%d):", title, len(items))
		for i, it := range items {
			if i == maxListed {
				line("  … and %d more", len(items)-maxListed)
				break
			}
			line("  %s", it)
		}
	}
	line("%s", r.Summary())
	line("")
	line("camera:   %s", r.Name)
	line("board:    %s", orUnknown(r.Model))
	if r.Revision != "" {
		line("revision: %s", r.Revision)
	}
	if r.Serial != "" {
		line("serial:   %s", r.Serial)
	}
	if len(r.Compatible) > 0 {
		line("compatible: %s", strings.Join(r.Compatible, " "))
	}
	line("kernel:   %s", orUnknown(r.Kernel))
	line("camwire:  %s", r.Version)
	if r.Uptime != "" {
		line("uptime:   %s", r.Uptime)
	}
	if is := r.Issues(); len(is) > 0 {
		line("")
		list("problems", is)
	}

	line("")
	line("video device:")
	unused := ""
	if !r.VideoUsed {
		unused = " (not used: the source is not the camera)"
	}
	switch {
	case r.Video == "":
		line("  none looked for")
	case r.VideoOK:
		line("  %s present%s", r.Video, unused)
	default:
		line("  %s missing%s: %s", r.Video, unused, r.VideoReason)
	}
	list("kernel camera messages", r.CameraLog)

	line("")
	line("boot partition: %s", r.Boot)
	if r.Init != nil && r.Init.Boot != "" {
		line("  PID 1: %s", r.Init.Boot)
	}
	list("settings problems", r.Problems)
	for _, n := range r.Notes {
		line("settings: %s", n)
	}

	line("")
	if r.Init == nil {
		line("modules tried by PID 1: unknown (%s)", r.InitErr)
	} else {
		line("board as PID 1 saw it: %s", r.Init.Board)
		var failed []string
		for _, m := range r.Init.Modules {
			if m.Err != "" {
				failed = append(failed, m.Name+": "+m.Err)
			}
		}
		list("modules failed", failed)
		if r.Init.Loading {
			line("modules: PID 1 was still loading drivers when this report was made (the list above is incomplete)")
		}
	}
	list("modules loaded", r.Loaded)
	unbound := r.Unbound
	if r.Init != nil && len(r.Init.Unbound) > 0 {
		unbound = r.Init.Unbound
	}
	list("devices without a driver", unbound)

	line("")
	if len(r.Links) == 0 {
		line("network: no interface but loopback")
	}
	for _, l := range r.Links {
		duplex := ""
		if l.Duplex != "" {
			duplex = " " + l.Duplex + " duplex"
		}
		addrs := ""
		if len(l.Addrs) > 0 {
			addrs = ", " + strings.Join(l.Addrs, " ")
		}
		line("link %s: %s, %s%s, %s%s", l.Name, orUnknown(l.State), l.Speed, duplex, orUnknown(l.MAC), addrs)
	}
	if r.Init != nil {
		for _, n := range r.Init.Network {
			line("network: %s", n)
		}
	}

	line("")
	line("SoC temperature: %s", r.Temp)
	line("throttling: %s", r.Throttle)
	for _, v := range r.Voltage {
		line("  kernel: %s", v)
	}
	return b.String()
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
