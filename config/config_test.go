package config

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var update = flag.Bool("update", false, "rewrite ../boot/camwire.txt from Template()")

// cmpNet compares netip values by ==, as reflect.DeepEqual did: their
// fields are unexported.
var cmpNet = cmpopts.EquateComparable(netip.Prefix{}, netip.Addr{})

func TestDefault(t *testing.T) {
	want := Config{
		Name:       "camwire",
		Address:    netip.MustParsePrefix("192.168.77.2/24"),
		Receiver:   "192.168.77.1:10401",
		DHCPServer: DHCPAuto,
		USBGadget:  GadgetAuto,
		Source:     SourceV4L2,
		Device:     "/dev/video0",
		Width:      1920,
		Height:     1080,
		FPS:        30,
		Bitrate:    16000000,
		Segment:    10 * time.Minute,
		Buffer:     64 << 20,
	}
	if diff := cmp.Diff(want, Default(), cmpNet); diff != "" {
		t.Errorf("Default() mismatch (-want +got):\n%s", diff)
	}
	if got := Default().Keyframes(); got != 30 {
		t.Errorf("Default().Keyframes() = %d, want 30 (one second at 30 fps)", got)
	}
}

// TestKeys sets every key from a one-line file and checks the field, or,
// for a bad value, the message and the fallback to the default.
func TestKeys(t *testing.T) {
	tests := []struct {
		line  string
		check func(c Config) bool
		msg   string // "" = no problem expected
	}{
		{"name=cam-1", func(c Config) bool { return c.Name == "cam-1" }, ""},
		{"name=my cam", func(c Config) bool { return c.Name == "camwire" }, `camwire.txt:1: name: "my cam" is not a usable name ("my cam" has byte 0x20; use letters, digits, '.', '_', '-'); using default camwire`},
		{"name=CON", func(c Config) bool { return c.Name == "camwire" }, "*name: \"CON\" is not a usable name*"},
		{"address=10.0.0.5/8", func(c Config) bool { return c.Address == netip.MustParsePrefix("10.0.0.5/8") }, ""},
		{"address=10.0.0.5", func(c Config) bool { return c.Address == netip.MustParsePrefix("192.168.77.2/24") }, `camwire.txt:1: address: "10.0.0.5" has no prefix length (write it like 10.0.0.5/24); using default 192.168.77.2/24`},
		{"address=fe80::1/64", func(c Config) bool { return c.Address.Addr().Is4() }, `*"fe80::1/64" is not an IPv4 address; using default 192.168.77.2/24`},
		{"address=10.0.0.0/24", func(c Config) bool { return c.Address.Bits() == 24 }, `*is the network address*`},
		{"address=10.0.0.1/32", func(c Config) bool { return c.Address.Bits() == 24 }, `*prefix length must be 8 to 30*`},
		{"gateway=192.168.77.254", func(c Config) bool { return c.Gateway == netip.MustParseAddr("192.168.77.254") }, ""},
		{"gateway=none", func(c Config) bool { return !c.Gateway.IsValid() }, ""},
		{"gateway=router", func(c Config) bool { return !c.Gateway.IsValid() }, `camwire.txt:1: gateway: "router" is not an IPv4 address; using default none`},
		{"receiver=192.168.77.9:5000", func(c Config) bool { return c.Receiver == "192.168.77.9:5000" }, ""},
		{"receiver=192.168.77.9", func(c Config) bool { return c.Receiver == "192.168.77.9:10401" }, ""},
		{"receiver=[fd00::1]:7", func(c Config) bool { return c.Receiver == "[fd00::1]:7" }, ""},
		{"receiver=laptop:99999", func(c Config) bool { return c.Receiver == "192.168.77.1:10401" }, `camwire.txt:1: receiver: "laptop:99999": port "99999" is not 1 to 65535; using default 192.168.77.1:10401`},
		{"receiver=", func(c Config) bool { return c.Receiver == "192.168.77.1:10401" }, `*receiver: empty; want host:port*`},
		{"interface=usb0", func(c Config) bool { return c.Interface == "usb0" }, ""},
		{"interface=auto", func(c Config) bool { return c.Interface == "" }, ""},
		{"interface=eth0/1", func(c Config) bool { return c.Interface == "" }, `camwire.txt:1: interface: "eth0/1" is not an interface name; using default auto`},
		{"dhcp_server=off", func(c Config) bool { return c.DHCPServer == DHCPOff }, ""},
		{"dhcp_server=ON", func(c Config) bool { return c.DHCPServer == DHCPOn }, ""},
		{"dhcp_server=maybe", func(c Config) bool { return c.DHCPServer == DHCPAuto }, `camwire.txt:1: dhcp_server: "maybe" is not auto, on or off; using default auto`},
		{"usb_gadget=off", func(c Config) bool { return c.USBGadget == GadgetOff }, ""},
		{"usb_gadget=on", func(c Config) bool { return c.USBGadget == GadgetOn }, ""},
		{"usb_gadget=otg", func(c Config) bool { return c.USBGadget == GadgetAuto }, `camwire.txt:1: usb_gadget: "otg" is not auto, on or off; using default auto`},
		{"source=exec", func(c Config) bool { return c.Source == SourceExec }, ""},
		{"source=testsrc", func(c Config) bool { return c.Source == SourceTestsrc }, ""},
		{"source=libcamera", func(c Config) bool { return c.Source == SourceV4L2 }, `camwire.txt:1: source: "libcamera" is not v4l2, exec or testsrc; using default v4l2`},
		{"device=/dev/video2", func(c Config) bool { return c.Device == "/dev/video2" }, ""},
		{"device=video2", func(c Config) bool { return c.Device == "/dev/video0" }, `*device: "video2" is not an absolute path like /dev/video0; using default /dev/video0`},
		{"width=1280", func(c Config) bool { return c.Width == 1280 }, ""},
		{"width=8", func(c Config) bool { return c.Width == 1920 }, `camwire.txt:1: width: 8 is outside 16 to 4096; using default 1920`},
		{"height=720", func(c Config) bool { return c.Height == 720 }, ""},
		{"height=tall", func(c Config) bool { return c.Height == 1080 }, `camwire.txt:1: height: "tall" is not a number; using default 1080`},
		{"fps=25", func(c Config) bool { return c.FPS == 25 && c.Keyframes() == 25 }, ""},
		{"fps=thirty", func(c Config) bool { return c.FPS == 30 }, `camwire.txt:1: fps: "thirty" is not a number; using default 30`},
		{"fps=0", func(c Config) bool { return c.FPS == 30 }, `camwire.txt:1: fps: 0 is outside 1 to 90; using default 30`},
		{"bitrate=8000000", func(c Config) bool { return c.Bitrate == 8000000 }, ""},
		{"bitrate=16M", func(c Config) bool { return c.Bitrate == 16000000 }, ""},
		{"bitrate=2.5Mbit/s", func(c Config) bool { return c.Bitrate == 2500000 }, ""},
		{"bitrate=500k", func(c Config) bool { return c.Bitrate == 500000 }, ""},
		{"bitrate=30M", func(c Config) bool { return c.Bitrate == 16000000 }, `camwire.txt:1: bitrate: "30M" is outside 25000 to 25000000 bits per second; using default 16000000`},
		{"bitrate=fast", func(c Config) bool { return c.Bitrate == 16000000 }, `*bitrate: "fast" is not a bit rate like 16000000 or 16M; using default 16000000`},
		{"keyframe_interval=60", func(c Config) bool { return c.KeyframeInterval == 60 && c.Keyframes() == 60 }, ""},
		{"keyframe_interval=", func(c Config) bool { return c.KeyframeInterval == 0 }, ""},
		{"keyframe_interval=-1", func(c Config) bool { return c.KeyframeInterval == 0 }, `camwire.txt:1: keyframe_interval: -1 is outside 1 to 1000; using default same as fps`},
		{"rotation=180", func(c Config) bool { return c.Rotation == 180 }, ""},
		{"rotation=45", func(c Config) bool { return c.Rotation == 0 }, `camwire.txt:1: rotation: "45" is not 0, 90, 180 or 270; using default 0`},
		{"hflip=yes", func(c Config) bool { return c.HFlip }, ""},
		{"hflip", func(c Config) bool { return c.HFlip }, ""},
		{"vflip=true", func(c Config) bool { return c.VFlip }, ""},
		{"vflip=upside", func(c Config) bool { return !c.VFlip }, `camwire.txt:1: vflip: "upside" is not yes or no; using default no`},
		{"segment=30s", func(c Config) bool { return c.Segment == 30*time.Second }, ""},
		{"segment=1h30m", func(c Config) bool { return c.Segment == 90*time.Minute }, ""},
		{"segment=600", func(c Config) bool { return c.Segment == 10*time.Minute }, `camwire.txt:1: segment: "600" has no unit (write it like 600s or 600m); using default 10m`},
		{"segment=0s", func(c Config) bool { return c.Segment == 10*time.Minute }, `*segment: "0s" is outside 1s to 24h*`},
		{"buffer=128MiB", func(c Config) bool { return c.Buffer == 128<<20 }, ""},
		{"buffer=100MB", func(c Config) bool { return c.Buffer == 100e6 }, ""},
		{"buffer=2G", func(c Config) bool { return c.Buffer == 64<<20 }, `camwire.txt:1: buffer: "2G" is outside 1MiB to 1GiB; using default 64MiB`},
		{"buffer=lots", func(c Config) bool { return c.Buffer == 64<<20 }, `camwire.txt:1: buffer: "lots" is not a size like 64MiB; using default 64MiB`},
		{"exec=ffmpeg -i x -f h264 -", func(c Config) bool { return c.Exec == "ffmpeg -i x -f h264 -" }, ""},
		{"key=s3cret=x", func(c Config) bool { return c.Key == "s3cret=x" }, ""},
		{"key=file:", func(c Config) bool { return c.Key == "" }, `camwire.txt:1: key: file: names no file; using default none`},
		{"modules=vivid, i2c_dev", func(c Config) bool { return cmp.Equal(c.Modules, []string{"vivid", "i2c_dev"}) }, ""},
		{"modules=../evil", func(c Config) bool { return c.Modules == nil }, `camwire.txt:1: modules: "../evil" is not a module name; using default none`},
		{"debug=1", func(c Config) bool { return c.Debug }, ""},
		{"Debug = yes", func(c Config) bool { return c.Debug }, ""},
		{"fsp=25", func(c Config) bool { return c.FPS == 30 }, `camwire.txt:1: fsp: unknown key, ignored (did you mean fps?)`},
		{"colour=red", func(c Config) bool { return true }, `camwire.txt:1: colour: unknown key, ignored`},
		{"fps", func(c Config) bool { return c.FPS == 30 }, `camwire.txt:1: fps: has no value; write fps=VALUE (ignored)`},
		{"=5", func(c Config) bool { return true }, `camwire.txt:1: "=5" has no key before '=', ignored`},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			c := Default()
			probs := c.ApplyFile("/boot/camwire.txt", strings.NewReader(tt.line+"\n"))
			if !tt.check(c) {
				t.Errorf("after %q: config is\n%s", tt.line, c)
			}
			switch {
			case tt.msg == "" && len(probs) != 0:
				t.Errorf("ApplyFile(%q) problems = %q, want none", tt.line, probs)
			case tt.msg != "" && len(probs) != 1:
				t.Errorf("ApplyFile(%q) problems = %q, want one like %q", tt.line, probs, tt.msg)
			case tt.msg != "" && !match(tt.msg, probs[0].Error()):
				t.Errorf("ApplyFile(%q) problem = %q, want %q", tt.line, probs[0].Error(), tt.msg)
			}
		})
	}
}

// match compares with a pattern where a leading or trailing '*' stands
// for any text.
func match(pattern, s string) bool {
	switch {
	case strings.HasPrefix(pattern, "*") && strings.HasSuffix(pattern, "*"):
		return strings.Contains(s, pattern[1:len(pattern)-1])
	case strings.HasPrefix(pattern, "*"):
		return strings.HasSuffix(s, pattern[1:])
	case strings.HasSuffix(pattern, "*"):
		return strings.HasPrefix(s, pattern[:len(pattern)-1])
	}
	return s == pattern
}

// TestFileFormat: what a Windows editor leaves behind still parses, and
// line numbers count every line, comments and blanks included.
func TestFileFormat(t *testing.T) {
	file := "\uFEFF# my camera\r\n" +
		"\r\n" +
		"  name = garden \r\n" +
		"fps=25\r\n" +
		"\t# fps=60\r\n" +
		"exec = raspivid -o - # not a comment \r\n" +
		"fps=thirty\r\n" +
		"width=1280"
	c := Default()
	probs := c.ApplyFile("camwire.txt", strings.NewReader(file))
	var got []string
	for _, p := range probs {
		got = append(got, p.Error())
	}
	want := []string{
		"camwire.txt:7: fps: set again; line 4 is overridden",
		`camwire.txt:7: fps: "thirty" is not a number; using default 30`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ApplyFile problems (-want +got):\n%s", diff)
	}
	if c.Name != "garden" || c.FPS != 30 || c.Width != 1280 || c.Exec != "raspivid -o - # not a comment" {
		t.Errorf("config = name %q fps %d width %d exec %q; want garden 30 1280 %q",
			c.Name, c.FPS, c.Width, c.Exec, "raspivid -o - # not a comment")
	}
}

func TestCmdline(t *testing.T) {
	tests := []struct {
		name, cmdline string
		check         func(Config) bool
		probs         []string
	}{
		{"plain", "console=ttyAMA0 camwire.fps=25 root=/dev/ram0 camwire.name=door",
			func(c Config) bool { return c.FPS == 25 && c.Name == "door" }, nil},
		{"quoted value", `camwire.exec="raspivid -o - -t 0" quiet`,
			func(c Config) bool { return c.Exec == "raspivid -o - -t 0" }, nil},
		{"quoted word", `"camwire.exec=cat /dev/video0" quiet`,
			func(c Config) bool { return c.Exec == "cat /dev/video0" }, nil},
		{"bool alone", "camwire.debug\n",
			func(c Config) bool { return c.Debug }, nil},
		{"other dots ignored", "dwc_otg.lpm_enable=0 camwireless=1",
			func(c Config) bool { return cmp.Equal(c, Default(), cmpNet) }, nil},
		{"bad value", "camwire.fps=thirty",
			func(c Config) bool { return c.FPS == 30 },
			[]string{`cmdline: fps: "thirty" is not a number; using default 30`}},
		{"unknown", "camwire.sgement=1m",
			func(c Config) bool { return c.Segment == 10*time.Minute },
			[]string{"cmdline: sgement: unknown key, ignored (did you mean segment?)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			var got []string
			for _, p := range c.ApplyCmdline(tt.cmdline) {
				got = append(got, p.Error())
			}
			if diff := cmp.Diff(tt.probs, got); diff != "" {
				t.Errorf("ApplyCmdline(%q) problems (-want +got):\n%s", tt.cmdline, diff)
			}
			if !tt.check(c) {
				t.Errorf("ApplyCmdline(%q) config is\n%s", tt.cmdline, c)
			}
		})
	}
}

// TestPrecedence: defaults < camwire.txt < kernel command line < flags,
// key by key.
func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "camwire.txt")
	if err := os.WriteFile(file, []byte("fps=25\nwidth=1280\nheight=720\nname=file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	flags := RegisterFlags(fs)
	if err := fs.Parse([]string{"-config", file, "-height", "480", "-debug"}); err != nil {
		t.Fatal(err)
	}
	c, probs := Load(Layers{
		File:    "/does/not/exist/camwire.txt", // -config replaces it
		Cmdline: "camwire.width=640 camwire.height=360",
		Flags:   flags,
	})
	if len(probs) != 0 {
		t.Errorf("Load problems = %q, want none", probs)
	}
	got := [...]any{c.FPS, c.Width, c.Height, c.Name, c.Debug, c.Segment}
	want := [...]any{25, 640, 480, "file", true, 10 * time.Minute}
	if got != want {
		t.Errorf("Load: fps, width, height, name, debug, segment = %v, want %v", got, want)
	}
}

// TestBadLaterLayer: a bad value on the command line does not keep the
// file's value; the key goes back to its default, as the message says.
func TestBadLaterLayer(t *testing.T) {
	c := Default()
	c.ApplyFile("camwire.txt", strings.NewReader("fps=25\n"))
	probs := c.ApplyCmdline("camwire.fps=x")
	if c.FPS != 30 || len(probs) != 1 || !strings.HasSuffix(probs[0].Error(), "using default 30") {
		t.Errorf("fps after file 25 and cmdline x = %d, problems %q; want 30 and one 'using default 30'", c.FPS, probs)
	}
}

func TestLoadMissingFile(t *testing.T) {
	c, probs := Load(Layers{File: filepath.Join(t.TempDir(), "camwire.txt")})
	if diff := cmp.Diff(Default(), c, cmpNet); diff != "" {
		t.Errorf("Load with no file, want defaults (-want +got):\n%s", diff)
	}
	want := "camwire.txt: not found; using built-in settings"
	if len(probs) != 1 || probs[0].Error() != want {
		t.Errorf("Load with no file: problems %q, want [%q]", probs, want)
	}
}

func TestFlags(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	RegisterFlags(fs)
	for _, k := range keys {
		if fs.Lookup(k.name) == nil {
			t.Errorf("no flag -%s", k.name)
		}
	}
	if err := fs.Parse([]string{"-fps", "thirty"}); err == nil || !strings.Contains(err.Error(), `"thirty" is not a number`) {
		t.Errorf("Parse(-fps thirty) = %v, want an error saying it is not a number", err)
	}
	if f := fs.Lookup("segment"); f.DefValue != "10m" {
		t.Errorf("-segment default shown as %q, want 10m", f.DefValue)
	}
}

// TestKeyFile: key=file:NAME reads NAME next to camwire.txt, trims the
// newline an editor adds, and a problem never shows the secret itself.
func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "camwire.key"), []byte("hunter2\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Default()
	if probs := c.ApplyFile(filepath.Join(dir, "camwire.txt"), strings.NewReader("key=file:camwire.key")); len(probs) != 0 {
		t.Fatalf("problems %q, want none", probs)
	}
	if c.Key != "hunter2" {
		t.Errorf("Key = %q, want hunter2", c.Key)
	}
	if s := c.String(); strings.Contains(s, "hunter2") || !strings.Contains(s, "key=(set)") {
		t.Errorf("String() = %q; want key=(set) and no secret", s)
	}
	probs := c.ApplyFile(filepath.Join(dir, "camwire.txt"), strings.NewReader("key=file:missing.key"))
	if len(probs) != 1 || !strings.Contains(probs[0].Error(), "cannot read key file") || c.Key != "" {
		t.Errorf("missing key file: problems %q, key %q; want one 'cannot read key file' and no key", probs, c.Key)
	}
}

func TestExecCommand(t *testing.T) {
	tests := []struct {
		name string
		file string
		want string
	}{
		{"defaults", "",
			"raspivid -o - -t 0 -n -w 1920 -h 1080 -fps 30 -b 16000000 -g 30 -ih -pf high"},
		{"keyframes follow fps", "fps=25\nwidth=1280\nheight=720\nbitrate=8M",
			"raspivid -o - -t 0 -n -w 1280 -h 720 -fps 25 -b 8000000 -g 25 -ih -pf high"},
		{"rotation and flips", "rotation=180\nhflip=yes\nvflip=yes\nkeyframe_interval=60",
			"raspivid -o - -t 0 -n -w 1920 -h 1080 -fps 30 -b 16000000 -g 60 -ih -pf high -rot 180 -hf -vf"},
		{"exec set", "exec=ffmpeg -f v4l2 -i /dev/video0 -c copy -f h264 -\nfps=10",
			"ffmpeg -f v4l2 -i /dev/video0 -c copy -f h264 -"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			if probs := c.ApplyFile("camwire.txt", strings.NewReader(tt.file)); len(probs) != 0 {
				t.Fatalf("problems %q", probs)
			}
			if got := c.ExecCommand(); got != tt.want {
				t.Errorf("ExecCommand() =\n%q, want\n%q", got, tt.want)
			}
		})
	}
}

func TestExecArgs(t *testing.T) {
	tests := []struct {
		exec string
		want []string
	}{
		{"", strings.Fields("raspivid -o - -t 0 -n -w 1920 -h 1080 -fps 30 -b 16000000 -g 30 -ih -pf high")},
		{`ffmpeg -i "my file.mp4" -f h264 -`, []string{"ffmpeg", "-i", "my file.mp4", "-f", "h264", "-"}},
		{`sh -c 'raspivid -o - | tee /tmp/x'`, []string{"sh", "-c", "raspivid -o - | tee /tmp/x"}},
	}
	for _, tt := range tests {
		c := Default()
		c.Exec = tt.exec
		if diff := cmp.Diff(tt.want, c.ExecArgs()); diff != "" {
			t.Errorf("ExecArgs() with exec=%s (-want +got):\n%s", tt.exec, diff)
		}
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"", nil},
		{"receiver=10.1.1.1", []string{"settings: receiver: 10.1.1.1 is not on 192.168.77.0/24 and no gateway is set; it cannot be reached"}},
		{"receiver=10.1.1.1\ngateway=192.168.77.254", nil},
		{"receiver=192.168.77.2", []string{"settings: receiver: 192.168.77.2 is the camera's own address"}},
		{"gateway=10.0.0.1\nreceiver=10.0.0.9", []string{"settings: gateway: 10.0.0.1 is not on 192.168.77.0/24"}},
		{"dhcp_server=on\nreceiver=laptop.local", []string{`settings: dhcp_server: on, but receiver "laptop.local" is not an IPv4 address; no address will be offered`}},
	}
	for _, tt := range tests {
		c := Default()
		c.ApplyFile("camwire.txt", strings.NewReader(tt.file))
		var got []string
		for _, p := range c.Check() {
			got = append(got, p.Error())
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Check() after %q (-want +got):\n%s", tt.file, diff)
		}
	}
}

// TestStringRoundTrip: String renders every key so that reading it back
// gives the same Config, the property the template test relies on.
func TestStringRoundTrip(t *testing.T) {
	c := Default()
	c.ApplyFile("camwire.txt", strings.NewReader("name=x\ngateway=192.168.77.254\nfps=12\nkeyframe_interval=24\nhflip=yes\nsegment=90m\nbuffer=1536KiB\nmodules=a,b\nexec=cat\ninterface=eth1\ndhcp_server=off\nsource=exec\n"))
	back := Default()
	if probs := back.ApplyFile("camwire.txt", strings.NewReader(c.String())); len(probs) != 0 {
		t.Fatalf("reading String() back: %q", probs)
	}
	if diff := cmp.Diff(c, back, cmpNet); diff != "" {
		t.Errorf("Config read back from String() (-want +got):\n%s", diff)
	}
}
