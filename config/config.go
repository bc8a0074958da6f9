// Package config turns camwire's settings into one validated Config.
//
// Settings come from four layers; a later layer wins key by key:
//
//  1. built-in defaults (Default),
//  2. camwire.txt on the boot FAT partition (ApplyFile),
//  3. the kernel command line, camwire.KEY=VALUE words (ApplyCmdline),
//  4. command-line flags named like the keys (RegisterFlags).
//
// Load does all four in that order. A bad value never stops the camera:
// the key falls back to its built-in default, and a Problem naming the
// source, line and key is returned so the recorder can show it on the
// console and send it to the receiver (wire.Log). Unknown keys are
// Problems too, so a typo does not pass unnoticed.
//
// One table (keys.go) describes every key: its parser, its default and its
// documentation. Defaults, flags and the boot/camwire.txt template are
// all made from that table, so they cannot drift apart.
package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/hugelgupf/go-shlex"
)

// Config is every camwire setting, parsed and validated.
type Config struct {
	// Name is the camera's name: its folder on the laptop and the Pi's
	// hostname. Always passes wire.ValidName.
	Name string

	// Address is the Pi's own IPv4 address with its prefix length.
	Address netip.Prefix
	// Gateway is the default route's next hop; the zero Addr means no
	// default route (a direct cable needs none).
	Gateway netip.Addr
	// Receiver is the laptop's host:port (port always present).
	Receiver string
	// Interface is the network interface to configure; "" picks the
	// first wired one (see package netcfg).
	Interface string
	// DHCPServer says whether the Pi hands the receiver address to the
	// laptop on a direct cable.
	DHCPServer DHCPMode
	// USBGadget says whether the board's USB device port becomes a
	// network card and serial console for the laptop (package gadget).
	USBGadget GadgetMode

	// Source is where H.264 comes from.
	Source Source
	// Device is the V4L2 device for Source v4l2.
	Device string
	// Width and Height are the picture size in pixels.
	Width, Height int
	// FPS is frames per second.
	FPS int
	// Bitrate is the encoder's target in bits per second.
	Bitrate int
	// KeyframeInterval is frames from one keyframe to the next; 0 means
	// "one second", i.e. FPS. Use Keyframes for the effective value.
	KeyframeInterval int
	// Rotation is 0, 90, 180 or 270 degrees clockwise.
	Rotation int
	// HFlip and VFlip mirror the picture.
	HFlip, VFlip bool

	// Segment is the length of one recorded file.
	Segment time.Duration
	// Buffer is how many bytes the Pi keeps while the receiver is away.
	Buffer int64

	// Exec is the command line for Source exec; "" means the raspivid
	// command built from the other keys (see ExecCommand).
	Exec string

	// Key is the shared secret the receiver may require; "" means none.
	// In camwire.txt, on the kernel command line or as a flag it is
	// either the secret itself or "file:PATH" naming a file that holds
	// it (relative to the directory of the camwire.txt that names it).
	Key string

	// Modules are extra kernel modules to load, beyond the ones the
	// board needs.
	Modules []string

	// Debug turns on verbose logging.
	Debug bool

	// Serial is the SoC serial number (Sources.Serial), "" when the
	// machine has none. It is not a setting: when set, Name and Address
	// default to SerialName and SerialAddress instead of the built-in
	// camwire and 192.168.77.2/24.
	Serial string
}

// DHCPMode is the dhcp_server setting.
type DHCPMode string

// DHCP modes.
const (
	// DHCPAuto serves only while no other DHCP server answers on the link.
	DHCPAuto DHCPMode = "auto"
	DHCPOn   DHCPMode = "on"
	DHCPOff  DHCPMode = "off"
)

// GadgetMode is the usb_gadget setting.
type GadgetMode string

// Gadget modes.
const (
	// GadgetAuto builds the gadget on boards whose USB port is a device
	// port: the Pi Zero 2 W and the Pi 4's USB-C.
	GadgetAuto GadgetMode = "auto"
	GadgetOn   GadgetMode = "on"
	GadgetOff  GadgetMode = "off"
)

// Source is the source setting.
type Source string

// Sources of H.264.
const (
	SourceV4L2    Source = "v4l2"
	SourceExec    Source = "exec"
	SourceTestsrc Source = "testsrc"
)

// Default returns the built-in settings: every key's documented default.
func Default() Config {
	var c Config
	for _, k := range keys {
		if err := k.set(&c, k.def, ""); err != nil {
			panic(fmt.Sprintf("config: default of %s (%q) does not parse: %v", k.name, k.def, err))
		}
	}
	return c
}

// Keyframes returns the effective keyframe interval in frames.
func (c Config) Keyframes() int {
	if c.KeyframeInterval > 0 {
		return c.KeyframeInterval
	}
	return c.FPS
}

// ReceiverHost returns the host part of Receiver.
func (c Config) ReceiverHost() string {
	h, _, err := splitHostPort(c.Receiver)
	if err != nil {
		return ""
	}
	return h
}

// ReceiverAddr returns the receiver's host as an IPv4 address, the one
// the DHCP server offers; ok is false when the host is a name.
func (c Config) ReceiverAddr() (addr netip.Addr, ok bool) {
	a, err := netip.ParseAddr(c.ReceiverHost())
	if err != nil || !a.Is4() {
		return netip.Addr{}, false
	}
	return a, true
}

// ExecCommand returns the command line the exec source runs: Exec when
// set, otherwise raspivid writing raw H.264 to stdout with the picture
// settings of the other keys. -ih repeats SPS/PPS before every keyframe so
// each segment file starts decodable; -pf high matches the v4l2 source.
func (c Config) ExecCommand() string {
	if c.Exec != "" {
		return c.Exec
	}
	return strings.Join(c.raspivid(), " ")
}

// ExecArgs returns ExecCommand as an argument vector, split with POSIX
// shell quoting (quotes and backslashes), for running it without a shell
// (the initramfs may have none). Pipes and redirections are not
// interpreted; a user who needs them writes exec=sh -c '...'.
func (c Config) ExecArgs() []string {
	if c.Exec == "" {
		return c.raspivid()
	}
	return shlex.Split(c.Exec)
}

func (c Config) raspivid() []string {
	args := []string{"raspivid", "-o", "-", "-t", "0", "-n",
		"-w", strconv.Itoa(c.Width), "-h", strconv.Itoa(c.Height),
		"-fps", strconv.Itoa(c.FPS), "-b", strconv.Itoa(c.Bitrate),
		"-g", strconv.Itoa(c.Keyframes()), "-ih", "-pf", "high"}
	if c.Rotation != 0 {
		args = append(args, "-rot", strconv.Itoa(c.Rotation))
	}
	if c.HFlip {
		args = append(args, "-hf")
	}
	if c.VFlip {
		args = append(args, "-vf")
	}
	return args
}

// String renders the settings as camwire.txt lines, one key per line, in
// table order, for logs. The key is shown only as set or not: it is a
// secret and logs travel to the receiver.
func (c Config) String() string {
	var b strings.Builder
	for _, k := range keys {
		v := k.get(c)
		if k.secret && v != "" {
			v = "(set)"
		}
		fmt.Fprintf(&b, "%s=%s\n", k.name, v)
	}
	return b.String()
}
