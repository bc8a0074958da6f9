package config

import (
	"flag"
	"fmt"
	"net/netip"
	"strings"
)

// Flags holds the settings given on the command line, to be applied last
// by Load. A flag's value is checked when it is parsed, so a typo on the
// command line is an ordinary flag error, not a Problem.
type Flags struct {
	// File is the -config flag: a camwire.txt to read instead of
	// Layers.File.
	File string

	set []flagSetting // in command-line order
}

type flagSetting struct{ key, value string }

// RegisterFlags defines -config plus one flag per key, named exactly like
// the key (-fps, -receiver, -dhcp_server …); bool keys are bool flags
// (-debug, -hflip=false).
func RegisterFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	fs.StringVar(&f.File, "config", "", "read settings from this camwire.txt")
	for _, k := range keys {
		usage := strings.Join(k.doc, " ")
		usage = strings.ReplaceAll(usage, "{raspivid}", Default().ExecCommand())
		fs.Var(&flagValue{f: f, k: k}, k.name, usage)
	}
	return f
}

// Apply sets c from the flags given on the command line.
func (f *Flags) Apply(c *Config) []Problem {
	var probs []Problem
	for _, s := range f.set {
		if p := c.apply(LayerFlags, 0, s.key, s.value, true, ""); p != nil {
			probs = append(probs, *p)
		}
	}
	return probs
}

// flagValue is one key as a flag.Value.
type flagValue struct {
	f     *Flags
	k     *key
	value string
	isSet bool
}

func (v *flagValue) String() string {
	if v == nil || v.k == nil {
		return ""
	}
	if v.isSet {
		if v.k.secret {
			return "(set)"
		}
		return v.value
	}
	return v.k.def
}

func (v *flagValue) Set(s string) error {
	c := Default()
	if err := c.Set(v.k.name, s, ""); err != nil {
		return err
	}
	v.value, v.isSet = s, true
	v.f.set = append(v.f.set, flagSetting{v.k.name, s})
	return nil
}

// IsBoolFlag lets "-debug" stand for "-debug=yes".
func (v *flagValue) IsBoolFlag() bool { return v.k != nil && v.k.isBool }

// Check returns warnings about keys that are each valid but do not work
// together. It changes nothing: the user may know better (a receiver
// reached through a route this package cannot see, say).
func (c Config) Check() []Problem {
	var probs []Problem
	warn := func(key, format string, args ...any) {
		probs = append(probs, Problem{Layer: "settings", Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	net := c.Address.Masked()
	if host, err := netip.ParseAddr(c.ReceiverHost()); err == nil {
		switch {
		case host == c.Address.Addr():
			warn("receiver", "%s is the camera's own address", host)
		case !net.Contains(host) && !c.Gateway.IsValid():
			warn("receiver", "%s is not on %s and no gateway is set; it cannot be reached", host, net)
		case !net.Contains(host) && c.DHCPServer == DHCPOn:
			warn("dhcp_server", "on, but receiver %s is not on %s; no address will be offered", host, net)
		}
	} else if c.DHCPServer == DHCPOn {
		warn("dhcp_server", "on, but receiver %q is not an IPv4 address; no address will be offered", c.ReceiverHost())
	}
	if c.Gateway.IsValid() && !net.Contains(c.Gateway) {
		warn("gateway", "%s is not on %s", c.Gateway, net)
	}
	return probs
}
