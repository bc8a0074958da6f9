package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzApplyFile: whatever a user writes, ApplyFile does not panic, every
// Problem names its source, and the Config it leaves is valid: written
// out with String and read back, it gives no problem and the same Config.
func FuzzApplyFile(f *testing.F) {
	f.Add(string(Template()))
	f.Add("\uFEFFfps=25\r\nname = x\r\n")
	f.Add("fps=thirty\nfsp=1\n=\nkey=file:\nbuffer=1GiB\nsegment=24h\n")
	f.Add("receiver=[::1]:1\naddress=10.0.0.1/8\nbitrate=2.5M\n")
	f.Fuzz(func(t *testing.T, text string) {
		c := Default()
		for _, p := range c.ApplyFile("camwire.txt", strings.NewReader(text)) {
			if p.Layer != "camwire.txt" || p.Msg == "" {
				t.Errorf("problem %+v lacks source or message", p)
			}
		}
		if strings.Contains(text, "file:") {
			return // key files are read from disk; String shows no secret
		}
		back := Default()
		if probs := back.ApplyFile("camwire.txt", strings.NewReader(c.String())); len(probs) != 0 {
			t.Fatalf("String() of the result does not read back: %q\n%s", probs, c)
		}
		if diff := cmp.Diff(withoutKey(c), withoutKey(back), cmpNet); diff != "" {
			t.Errorf("round trip changed the config (-want +got):\n%s", diff)
		}
	})
}

// withoutKey blanks the secret, which String does not write out.
func withoutKey(c Config) Config {
	c.Key = ""
	return c
}

// FuzzApplyCmdline: any kernel command line is safe to read.
func FuzzApplyCmdline(f *testing.F) {
	f.Add(`console=ttyAMA0 camwire.fps=25 "camwire.exec=a b" camwire.debug camwire.x=1`)
	f.Add(`camwire.name="unterminated`)
	f.Fuzz(func(t *testing.T, cmdline string) {
		c := Default()
		for _, p := range c.ApplyCmdline(cmdline) {
			if p.Layer != LayerCmdline || p.Msg == "" {
				t.Errorf("problem %+v lacks source or message", p)
			}
		}
	})
}
