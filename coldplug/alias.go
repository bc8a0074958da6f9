// Package coldplug loads the kernel modules for the devices a machine
// has, the way a distribution's udev and modprobe do: every device the
// kernel registered shows a modalias in sysfs (e.g.
// "of:NmmcT(null)Cbrcm,bcm2835-sdhost" for a device-tree node,
// "usb:v0424pEC00d0200dc…" for a USB interface), modules.alias maps glob
// patterns of those strings to modules, and whatever matches is loaded
// with its dependencies. Devices that appear later (USB, children that a
// driver registers) arrive as kernel uevents and are handled the same way.
//
// The matching (Aliases) is pure and testable without a kernel; Plugger
// does the sysfs walk, the loading and the uevent watch, and keeps what
// happened as a Result for the boot report.
package coldplug

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// Aliases is a parsed modules.alias: glob patterns and the module each
// names, in file order.
type Aliases struct {
	rules []rule
}

type rule struct {
	pattern string // normalised, see normalize
	module  string
	// lit is the pattern's longest run of plain bytes: a string that
	// does not contain it cannot match, and strings.Contains is far
	// cheaper than fnmatch over 25,000 patterns.
	lit string
}

// longestLiteral is the longest run of pattern outside glob syntax
// (wildcards, bracket expressions and escaped bytes).
func longestLiteral(pattern string) string {
	best, start := "", 0
	cut := func(end int) {
		if end-start > len(best) {
			best = pattern[start:end]
		}
	}
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '*', '?', '\\':
			cut(i)
			if pattern[i] == '\\' {
				i++
			}
			start = i + 1
		case '[':
			cut(i)
			k := i + 1 // a ']' right after "[", "[!" or "[^" is a member
			if k < len(pattern) && (pattern[k] == '!' || pattern[k] == '^') {
				k++
			}
			if k < len(pattern) && pattern[k] == ']' {
				k++
			}
			if j := strings.IndexByte(pattern[k:], ']'); j >= 0 {
				i = k + j
			}
			start = i + 1
		}
	}
	cut(len(pattern))
	return best
}

// ParseAliases reads "alias PATTERN MODULE" lines (depmod's
// modules.alias). Comments and blank lines are skipped; any other line is
// an error naming its number, so a truncated file is not half-used
// silently.
func ParseAliases(r io.Reader) (*Aliases, error) {
	a := &Aliases{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "alias" {
			return nil, fmt.Errorf("modules.alias:%d: want \"alias PATTERN MODULE\", got %q", n, line)
		}
		pat := normalize(f[1])
		a.rules = append(a.rules, rule{pattern: pat, module: f[2], lit: longestLiteral(pat)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("modules.alias: %w", err)
	}
	return a, nil
}

// ReadAliases parses the modules.alias file at path.
func ReadAliases(path string) (*Aliases, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseAliases(f)
}

// Len is the number of alias lines.
func (a *Aliases) Len() int { return len(a.rules) }

// Match returns the modules whose patterns match modalias, each once, in
// file order. Like modprobe, every match counts: a device-tree node often
// matches one module, a USB interface sometimes several (a class driver
// and a vendor one), and each gets its chance to bind.
func (a *Aliases) Match(modalias string) []string {
	s := normalize(modalias)
	var out []string
	seen := map[string]bool{}
	for _, r := range a.rules {
		if !seen[r.module] && strings.Contains(s, r.lit) && fnmatch(r.pattern, s) {
			seen[r.module] = true
			out = append(out, r.module)
		}
	}
	return out
}

// normalize makes '-' and '_' the same outside bracket expressions, as
// kmod does for both the patterns (depmod's modules.alias.bin) and the
// string looked up (libkmod's alias_normalize): "brcm,bcm2835-sdhost" in
// a device tree matches a driver that wrote "brcm,bcm2835_sdhost".
func normalize(s string) string {
	b := []byte(s)
	inBracket := false
	for i, c := range b {
		switch {
		case c == '[':
			inBracket = true
		case c == ']':
			inBracket = false
		case c == '-' && !inBracket:
			b[i] = '_'
		}
	}
	return string(b)
}

// fnmatch is fnmatch(3) with no flags, which kmod uses to match aliases:
// '*' any run of bytes, '?' one byte, '[…]' a set with ranges and '!' or
// '^' negation, '\' quoting the next byte. Written here because Go's
// path.Match and filepath.Match treat '/' as a separator that '*' cannot
// cross, and modalias strings are not paths.
func fnmatch(pattern, s string) bool {
	// Iterative with one backtrack point for the last '*': linear in
	// practice, no recursion.
	p, i := 0, 0
	starP, starI := -1, 0
	for i < len(s) {
		if p < len(pattern) {
			switch c := pattern[p]; c {
			case '*':
				starP, starI = p, i
				p++
				continue
			case '?':
				p++
				i++
				continue
			case '[':
				if ok, next, valid := matchSet(pattern, p, s[i]); valid {
					if ok {
						p = next
						i++
						continue
					}
				} else if s[i] == '[' { // unterminated: a literal '['
					p++
					i++
					continue
				}
			case '\\':
				if p+1 < len(pattern) && pattern[p+1] == s[i] {
					p += 2
					i++
					continue
				}
			default:
				if c == s[i] {
					p++
					i++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starI++
		p, i = starP+1, starI
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matchSet matches c against the bracket expression at pattern[p] ('[').
// It returns whether c is in the set, the index after the closing ']', and
// whether the expression is terminated at all.
func matchSet(pattern string, p int, c byte) (match bool, next int, valid bool) {
	j := p + 1
	negate := false
	if j < len(pattern) && (pattern[j] == '!' || pattern[j] == '^') {
		negate = true
		j++
	}
	first := true
	for ; j < len(pattern); j++ {
		lo := pattern[j]
		if lo == ']' && !first {
			return match != negate, j + 1, true
		}
		first = false
		if lo == '\\' && j+1 < len(pattern) {
			j++
			lo = pattern[j]
		}
		hi := lo
		if j+2 < len(pattern) && pattern[j+1] == '-' && pattern[j+2] != ']' {
			hi = pattern[j+2]
			j += 2
		}
		if lo <= c && c <= hi {
			match = true
		}
	}
	return false, 0, false
}
