package config

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Problem is one thing wrong in the settings. The camera keeps running:
// the key named by a Problem has its built-in default (or, for a warning,
// the value as written).
type Problem struct {
	Layer string // where the setting was written: "camwire.txt", "cmdline", "flags"; "settings" for a cross-key check
	Line  int    // 1-based line in Layer; 0 when Layer has no lines
	Key   string // the key as written; "" for a problem with the whole layer
	Msg   string
}

// Error renders the problem like a compiler message:
// camwire.txt:7: fps: "thirty" is not a number; using default 30
func (p Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.Layer)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

func (p Problem) String() string { return p.Error() }

// Layer names used in Problems (a file's layer is its base name).
const (
	LayerCmdline = "cmdline"
	LayerFlags   = "flags"
)

const bom = "\uFEFF"

// Set parses value into the key called name, as a camwire.txt line
// would. dir is where a relative "file:" key path starts ("" = the
// working directory). On error c is unchanged.
func (c *Config) Set(name, value, dir string) error {
	k := lookup(name)
	if k == nil {
		return fmt.Errorf("unknown key %q", name)
	}
	tmp := *c
	if err := k.set(&tmp, value, dir); err != nil {
		return err
	}
	*c = tmp
	return nil
}

// apply sets one key from one layer and returns the Problem, if any.
// A bad value resets the key to its default, so what the user gets does
// not depend on which earlier layer happened to set it.
func (c *Config) apply(layer string, line int, name, value string, hasValue bool, dir string) *Problem {
	p := func(key, format string, args ...any) *Problem {
		return &Problem{Layer: layer, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)}
	}
	k := lookup(name)
	if k == nil {
		msg := "unknown key, ignored"
		if s := suggest(name); s != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", s)
		}
		return p(name, "%s", msg)
	}
	if !hasValue {
		if !k.isBool {
			return p(k.name, "has no value; write %s=VALUE (ignored)", k.name)
		}
		value = "yes"
	}
	if err := c.Set(k.name, value, dir); err != nil {
		msg := err.Error()
		if k.secret && !strings.HasPrefix(value, "file:") {
			// Never echo a secret into logs that travel to the receiver.
			msg = "bad value"
		}
		if derr := k.set(c, k.defaultFor(*c), ""); derr != nil {
			panic(fmt.Sprintf("config: default of %s does not parse: %v", k.name, derr))
		}
		return p(k.name, "%s; using default %s", msg, k.defaultText(*c))
	}
	return nil
}

// ApplyFile reads camwire.txt-format settings from r: key=value lines,
// # comments and blank lines; CRLF line ends, a UTF-8 byte order mark and
// spaces around keys and values are tolerated (the file is edited on
// whatever computer has a card reader). name is used in Problems and its
// folder anchors relative "file:" paths. A read error is a Problem, too:
// the lines read before it still count.
func (c *Config) ApplyFile(name string, r io.Reader) []Problem {
	var probs []Problem
	src := filepath.Base(name)
	dir := filepath.Dir(name)
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if n == 1 {
			line = strings.TrimPrefix(line, bom)
		}
		line = strings.TrimSpace(line) // also drops the \r of CRLF
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, hasValue := strings.Cut(line, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if name == "" {
			probs = append(probs, Problem{Layer: src, Line: n, Msg: fmt.Sprintf("%q has no key before '=', ignored", line)})
			continue
		}
		if k := lookup(name); k != nil {
			if prev, ok := seen[k.name]; ok {
				probs = append(probs, Problem{Layer: src, Line: n, Key: k.name,
					Msg: fmt.Sprintf("set again; line %d is overridden", prev)})
			}
			seen[k.name] = n
		}
		if p := c.apply(src, n, name, value, hasValue, dir); p != nil {
			probs = append(probs, *p)
		}
	}
	if err := sc.Err(); err != nil {
		probs = append(probs, Problem{Layer: src, Msg: fmt.Sprintf("read error: %v; later lines ignored", err)})
	}
	return probs
}

// ApplyCmdline applies the camwire.KEY=VALUE words of a kernel command
// line (the contents of /proc/cmdline) and ignores every other word. The
// kernel's quoting is understood: camwire.exec="a b c" and
// "camwire.exec=a b c" both give exec the value a b c. A bool key alone
// (camwire.debug) means yes.
func (c *Config) ApplyCmdline(cmdline string) []Problem {
	var probs []Problem
	for _, w := range kernelWords(cmdline) {
		rest, ok := strings.CutPrefix(w, "camwire.")
		if !ok {
			continue
		}
		name, value, hasValue := strings.Cut(rest, "=")
		if p := c.apply(LayerCmdline, 0, name, value, hasValue, ""); p != nil {
			probs = append(probs, *p)
		}
	}
	return probs
}

// kernelWords splits a command line as the kernel's next_arg does:
// whitespace separates words except inside double quotes, and the quotes
// themselves are dropped.
func kernelWords(s string) []string {
	var words []string
	var b strings.Builder
	inWord, quoted := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			inWord = true
		case !quoted && (r == ' ' || r == '\t' || r == '\n' || r == '\r'):
			if inWord {
				words = append(words, b.String())
				b.Reset()
				inWord = false
			}
		default:
			b.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, b.String())
	}
	return words
}

// Layers are what Load reads, each optional; later ones win key by
// key. (A Problem names its layer; Source is only the camera setting.)
type Layers struct {
	// File is camwire.txt's path. "" reads no file. A missing file is a
	// Problem (the user may have renamed it) but not an error.
	File string
	// Cmdline is the kernel command line, e.g. the contents of
	// /proc/cmdline.
	Cmdline string
	// Flags are the parsed command-line flags; a -config flag replaces
	// File.
	Flags *Flags
	// Serial is the SoC serial number (ReadSerial(SerialFile)); when
	// set, name and address default to values derived from it.
	Serial string
}

// Load builds the Config: defaults, then File, then Cmdline, then Flags,
// each later one winning key by key, then the cross-key checks of Check.
// It never fails; everything wrong is in the returned Problems.
func Load(s Layers) (Config, []Problem) {
	c := Default()
	c.Serial = CleanSerial(s.Serial)
	c.derived()
	serialAddr := c.Address
	var probs []Problem
	file := s.File
	if s.Flags != nil && s.Flags.File != "" {
		file = s.Flags.File
	}
	if file != "" {
		f, err := os.Open(file)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			probs = append(probs, Problem{Layer: filepath.Base(file), Msg: "not found; using built-in settings"})
		case err != nil:
			probs = append(probs, Problem{Layer: filepath.Base(file), Msg: fmt.Sprintf("%v; using built-in settings", err)})
		default:
			probs = append(probs, c.ApplyFile(file, f)...)
			f.Close()
		}
	}
	probs = append(probs, c.ApplyCmdline(s.Cmdline)...)
	if s.Flags != nil {
		probs = append(probs, s.Flags.Apply(&c)...)
	}
	if c.Serial != "" && c.Address == serialAddr {
		// The derived address must not be the receiver's, which the DHCP
		// server hands the laptop; the receiver is only known now.
		if a, ok := c.ReceiverAddr(); ok {
			c.Address = SerialAddress(c.Serial, a)
		}
	}
	probs = append(probs, c.Check()...)
	return c, probs
}

// suggest returns the key closest to a misspelt name, or "".
func suggest(name string) string {
	name = strings.ToLower(name)
	best, bestD := "", 3
	for _, k := range keys {
		if d := editDistance(name, k.name); d < bestD {
			best, bestD = k.name, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
