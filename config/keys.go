package config

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/camwire/camwire/wire"
)

// key describes one setting. The table below is the single source of
// defaults, parsing, flags, String and the camwire.txt template.
type key struct {
	name string
	// doc is the comment above the key in camwire.txt, one line per
	// element, each at most ~72 columns.
	doc []string
	// def is the default exactly as it is written in camwire.txt.
	def string
	// defText names the default in messages when def alone would be
	// unclear (an empty value).
	defText string
	isBool  bool
	secret  bool
	// serial, if set, is the key's default on a board with a serial
	// number (Config.Serial), replacing def.
	serial func(c Config) string
	// set parses v into c. dir is the folder relative "file:" paths
	// start from. Errors describe the value, not the key: the caller
	// adds source, line and key.
	set func(c *Config, v, dir string) error
	// get renders c's value so that set(get(c)) gives it back.
	get func(c Config) string
}

func (k *key) defaultText(c Config) string {
	if k.serial != nil && c.Serial != "" {
		return k.serial(c)
	}
	if k.defText != "" {
		return k.defText
	}
	return k.def
}

// defaultFor is the value a bad setting falls back to in c.
func (k *key) defaultFor(c Config) string {
	if k.serial != nil && c.Serial != "" {
		return k.serial(c)
	}
	return k.def
}

var keys = []*key{
	{
		name: "name",
		doc: []string{
			"The camera's name: its folder on the laptop and the Pi's hostname.",
			"1-63 letters, digits, '.', '_' or '-'. Unset: camwire-XXXXXX, the",
			"end of the Pi's serial number (camwire where there is none).",
		},
		def:    "camwire",
		serial: func(c Config) string { return SerialName(c.Serial) },
		set: func(c *Config, v, _ string) error {
			if err := wire.ValidName(v); err != nil {
				return fmt.Errorf("%q is not a usable name (%s)", v, strings.TrimPrefix(err.Error(), wire.ErrBadName.Error()+": "))
			}
			c.Name = v
			return nil
		},
		get: func(c Config) string { return c.Name },
	},
	{
		name: "address",
		doc: []string{
			"The Pi's IPv4 address and prefix length on the cable. Unset: one",
			"of 192.168.77.2-254 picked by the Pi's serial number, so cameras",
			"from one image differ (192.168.77.2 where there is none). If",
			"another host has the address, the camera takes another one.",
		},
		def:    "192.168.77.2/24",
		serial: func(c Config) string { return SerialAddress(c.Serial).String() },
		set: func(c *Config, v, _ string) error {
			p, err := netip.ParsePrefix(v)
			if err != nil {
				if a, aerr := netip.ParseAddr(v); aerr == nil && a.Is4() {
					return fmt.Errorf("%q has no prefix length (write it like %s/24)", v, a)
				}
				return fmt.Errorf("%q is not an IPv4 address with prefix length, like 192.168.77.2/24", v)
			}
			if !p.Addr().Is4() {
				return fmt.Errorf("%q is not an IPv4 address", v)
			}
			if p.Bits() < 8 || p.Bits() > 30 {
				return fmt.Errorf("%q: prefix length must be 8 to 30", v)
			}
			if p.Addr() == p.Masked().Addr() {
				return fmt.Errorf("%q is the network address, not a host address", v)
			}
			c.Address = p
			return nil
		},
		get: func(c Config) string { return c.Address.String() },
	},
	{
		name: "gateway",
		doc: []string{
			"Default route for a camera on a routed network. Empty: none (a",
			"direct cable or one switch needs none).",
		},
		def:     "",
		defText: "none",
		set: func(c *Config, v, _ string) error {
			if v == "" || strings.EqualFold(v, "none") {
				c.Gateway = netip.Addr{}
				return nil
			}
			a, err := netip.ParseAddr(v)
			if err != nil || !a.Is4() {
				return fmt.Errorf("%q is not an IPv4 address", v)
			}
			c.Gateway = a
			return nil
		},
		get: func(c Config) string {
			if !c.Gateway.IsValid() {
				return ""
			}
			return c.Gateway.String()
		},
	},
	{
		name: "receiver",
		doc: []string{
			"The laptop running camwire-recv, host:port. The port defaults to",
			fmt.Sprintf("%d. With dhcp_server the laptop is given this host's address.", wire.DefaultPort),
		},
		def: fmt.Sprintf("192.168.77.1:%d", wire.DefaultPort),
		set: func(c *Config, v, _ string) error {
			h, p, err := splitHostPort(v)
			if err != nil {
				return err
			}
			c.Receiver = net.JoinHostPort(h, p)
			return nil
		},
		get: func(c Config) string { return c.Receiver },
	},
	{
		name: "interface",
		doc: []string{
			"Network interface to use. Empty: the first wired one (eth0, usb0...).",
		},
		def:     "",
		defText: "auto",
		set: func(c *Config, v, _ string) error {
			if v == "" || strings.EqualFold(v, "auto") {
				c.Interface = ""
				return nil
			}
			if len(v) > 15 || strings.ContainsAny(v, "/ \t:") || v == "." || v == ".." {
				return fmt.Errorf("%q is not an interface name", v)
			}
			c.Interface = v
			return nil
		},
		get: func(c Config) string { return c.Interface },
	},
	{
		name: "dhcp_server",
		doc: []string{
			"Give the laptop its address over a direct cable, so it needs no setup:",
			"auto = only while no other DHCP server answers on the network,",
			"on = always, off = never.",
		},
		def: "auto",
		set: func(c *Config, v, _ string) error {
			switch strings.ToLower(v) {
			case "auto":
				c.DHCPServer = DHCPAuto
			case "on", "yes", "true", "1":
				c.DHCPServer = DHCPOn
			case "off", "no", "false", "0":
				c.DHCPServer = DHCPOff
			default:
				return fmt.Errorf("%q is not auto, on or off", v)
			}
			return nil
		},
		get: func(c Config) string { return string(c.DHCPServer) },
	},
	{
		name: "usb_gadget",
		doc: []string{
			"Make the USB data port a network card and serial console for the",
			"laptop, so one cable powers the Pi and carries the video:",
			"auto = on the Pi Zero 2 W and the Pi 4's USB-C port, on = on any",
			"board with a USB device controller, off = never.",
		},
		def: "auto",
		set: func(c *Config, v, _ string) error {
			switch strings.ToLower(v) {
			case "auto":
				c.USBGadget = GadgetAuto
			case "on", "yes", "true", "1":
				c.USBGadget = GadgetOn
			case "off", "no", "false", "0":
				c.USBGadget = GadgetOff
			default:
				return fmt.Errorf("%q is not auto, on or off", v)
			}
			return nil
		},
		get: func(c Config) string { return string(c.USBGadget) },
	},
	{
		name: "source",
		doc: []string{
			"Where the video comes from: v4l2 = the camera's H.264 encoder,",
			"exec = the output of the exec command, testsrc = a test picture.",
		},
		def: "v4l2",
		set: func(c *Config, v, _ string) error {
			switch s := Source(strings.ToLower(v)); s {
			case SourceV4L2, SourceExec, SourceTestsrc:
				c.Source = s
				return nil
			}
			return fmt.Errorf("%q is not v4l2, exec or testsrc", v)
		},
		get: func(c Config) string { return string(c.Source) },
	},
	{
		name: "device",
		doc:  []string{"The camera's video device (source v4l2)."},
		def:  "/dev/video0",
		set: func(c *Config, v, _ string) error {
			if !strings.HasPrefix(v, "/") {
				return fmt.Errorf("%q is not an absolute path like /dev/video0", v)
			}
			c.Device = v
			return nil
		},
		get: func(c Config) string { return c.Device },
	},
	intKey("width", "Picture width in pixels.", "1920", 16, 4096, func(c *Config) *int { return &c.Width }),
	intKey("height", "Picture height in pixels.", "1080", 16, 4096, func(c *Config) *int { return &c.Height }),
	intKey("fps", "Frames per second.", "30", 1, 90, func(c *Config) *int { return &c.FPS }),
	{
		name: "bitrate",
		doc: []string{
			"Video bit rate in bits per second; 16M and 16000k mean the same.",
			"The camera's encoder does 25k to 25M.",
		},
		def: "16000000",
		set: func(c *Config, v, _ string) error {
			n, err := parseRate(v)
			if err != nil {
				return err
			}
			if n < 25_000 || n > 25_000_000 {
				return fmt.Errorf("%q is outside 25000 to 25000000 bits per second", v)
			}
			c.Bitrate = n
			return nil
		},
		get: func(c Config) string { return strconv.Itoa(c.Bitrate) },
	},
	{
		name: "keyframe_interval",
		doc: []string{
			"Frames from one keyframe to the next; files are cut at keyframes.",
			"Empty: the same as fps, one keyframe a second.",
		},
		def:     "",
		defText: "same as fps",
		set: func(c *Config, v, _ string) error {
			if v == "" {
				c.KeyframeInterval = 0
				return nil
			}
			return setInt(&c.KeyframeInterval, v, 1, 1000)
		},
		get: func(c Config) string {
			if c.KeyframeInterval == 0 {
				return ""
			}
			return strconv.Itoa(c.KeyframeInterval)
		},
	},
	{
		name: "rotation",
		doc:  []string{"Turn the picture clockwise: 0, 90, 180 or 270 degrees."},
		def:  "0",
		set: func(c *Config, v, _ string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n%90 != 0 || n < 0 || n > 270 {
				return fmt.Errorf("%q is not 0, 90, 180 or 270", v)
			}
			c.Rotation = n
			return nil
		},
		get: func(c Config) string { return strconv.Itoa(c.Rotation) },
	},
	boolKey("hflip", "Mirror the picture left to right.", func(c *Config) *bool { return &c.HFlip }),
	boolKey("vflip", "Mirror the picture top to bottom.", func(c *Config) *bool { return &c.VFlip }),
	{
		name: "segment",
		doc: []string{
			"Length of one recorded file, like 30s, 10m or 1h.",
		},
		def: "10m",
		set: func(c *Config, v, _ string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				if _, nerr := strconv.Atoi(v); nerr == nil {
					return fmt.Errorf("%q has no unit (write it like %ss or %sm)", v, v, v)
				}
				return fmt.Errorf("%q is not a duration like 30s, 10m or 1h", v)
			}
			if d < time.Second || d > 24*time.Hour {
				return fmt.Errorf("%q is outside 1s to 24h", v)
			}
			c.Segment = d
			return nil
		},
		get: func(c Config) string { return formatDuration(c.Segment) },
	},
	{
		name: "buffer",
		doc: []string{
			"Memory that holds video while the laptop is away, like 64MiB.",
			"A Pi 3 has about 280MiB free; 1MiB to 1GiB.",
		},
		def: "64MiB",
		set: func(c *Config, v, _ string) error {
			n, err := parseSize(v)
			if err != nil {
				return err
			}
			if n < 1<<20 || n > 1<<30 {
				return fmt.Errorf("%q is outside 1MiB to 1GiB", v)
			}
			c.Buffer = n
			return nil
		},
		get: func(c Config) string { return formatSize(c.Buffer) },
	},
	{
		name: "exec",
		doc: []string{
			"Command whose standard output is H.264 (source exec). Empty: raspivid",
			"with the settings above:",
			"  {raspivid}",
		},
		def:     "",
		defText: "raspivid built from the other keys",
		set: func(c *Config, v, _ string) error {
			c.Exec = v
			return nil
		},
		get: func(c Config) string { return c.Exec },
	},
	{
		name: "key",
		doc: []string{
			"Shared key, if camwire-recv requires one: the key itself, or",
			"file:NAME to read it from a file (NAME is relative to this file's",
			"folder). Empty: no key.",
		},
		def:     "",
		defText: "none",
		secret:  true,
		set: func(c *Config, v, dir string) error {
			name, ok := strings.CutPrefix(v, "file:")
			if !ok {
				c.Key = v
				return nil
			}
			if name == "" {
				return fmt.Errorf("file: names no file")
			}
			if !filepath.IsAbs(name) && dir != "" {
				name = filepath.Join(dir, name)
			}
			b, err := os.ReadFile(name)
			if err != nil {
				return fmt.Errorf("cannot read key file: %v", err)
			}
			k := strings.TrimRight(strings.TrimPrefix(string(b), bom), " \t\r\n")
			if k == "" {
				return fmt.Errorf("key file %s is empty", name)
			}
			c.Key = k
			return nil
		},
		get: func(c Config) string { return c.Key },
	},
	{
		name: "modules",
		doc: []string{
			"Extra kernel modules to load, comma separated, like vivid,i2c_dev.",
		},
		def:     "",
		defText: "none",
		set: func(c *Config, v, _ string) error {
			var mods []string
			for _, m := range strings.Split(v, ",") {
				m = strings.TrimSpace(m)
				if m == "" {
					continue
				}
				for i := 0; i < len(m); i++ {
					b := m[i]
					if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-') {
						return fmt.Errorf("%q is not a module name", m)
					}
				}
				mods = append(mods, m)
			}
			c.Modules = mods
			return nil
		},
		get: func(c Config) string { return strings.Join(c.Modules, ",") },
	},
	boolKey("debug", "Verbose logging on the console and to the receiver.", func(c *Config) *bool { return &c.Debug }),
}

// lookup finds a key by name. Names are matched without regard to case,
// and '-' stands for '_', so DHCP-Server finds dhcp_server.
func lookup(name string) *key {
	name = strings.ReplaceAll(strings.ToLower(name), "-", "_")
	for _, k := range keys {
		if k.name == name {
			return k
		}
	}
	return nil
}

func intKey(name, doc, def string, lo, hi int, field func(*Config) *int) *key {
	return &key{
		name: name,
		doc:  []string{doc},
		def:  def,
		set: func(c *Config, v, _ string) error {
			return setInt(field(c), v, lo, hi)
		},
		get: func(c Config) string { return strconv.Itoa(*field(&c)) },
	}
}

func boolKey(name, doc string, field func(*Config) *bool) *key {
	return &key{
		name:   name,
		doc:    []string{doc + " yes or no."},
		def:    "no",
		isBool: true,
		set: func(c *Config, v, _ string) error {
			b, err := parseBool(v)
			if err != nil {
				return err
			}
			*field(c) = b
			return nil
		},
		get: func(c Config) string {
			if *field(&c) {
				return "yes"
			}
			return "no"
		},
	}
}
