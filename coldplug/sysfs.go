package coldplug

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Device is one device the kernel registered, as sysfs shows it.
type Device struct {
	// Path is the device's directory relative to the sysfs root, e.g.
	// "devices/platform/soc/3f202000.mmc" (a uevent's DEVPATH without
	// its leading slash).
	Path string
	// Subsystem is its bus: "platform", "usb", "pci", "virtio", "cpu" …
	Subsystem string
	// Modalias is the content of its modalias file.
	Modalias string
	// Driver is the name of the bound driver ("" when none).
	Driver string
}

// Scan returns every device with a non-empty modalias, sorted by path.
// modalias is a bus attribute, so it reads sys/bus/*/devices/* (links to
// the devices' directories, as udevadm trigger enumerates them) instead
// of walking all of sys/devices: on a slow board that walk, through
// every attribute file, took seconds.
func Scan(sys string) ([]Device, error) {
	real, err := filepath.EvalSymlinks(sys)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(real, "bus")); err != nil {
		return nil, err
	}
	links, err := filepath.Glob(filepath.Join(real, "bus", "*", "devices", "*"))
	if err != nil {
		return nil, err
	}
	var out []Device
	for _, l := range links {
		b, err := os.ReadFile(filepath.Join(l, "modalias"))
		if err != nil {
			continue // no modalias, or the device went away meanwhile
		}
		alias := strings.TrimSpace(string(b))
		if alias == "" {
			continue
		}
		// One readlink, resolved lexically: a bus's devices/ entry
		// links straight to the device's directory
		// ("../../../devices/platform/…"). EvalSymlinks, a system call
		// per path component, made each walk take seconds in QEMU.
		target, err := os.Readlink(l)
		if err != nil {
			continue
		}
		dir := target
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(filepath.Dir(l), target)
		}
		rel, err := filepath.Rel(real, dir)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue
		}
		bus := filepath.Base(filepath.Dir(filepath.Dir(l)))
		out = append(out, Device{Path: filepath.ToSlash(rel), Subsystem: bus, Modalias: alias, Driver: driverOf(dir)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// driverOf is the bound driver's name: the target of the device's
// "driver" link (…/bus/platform/drivers/sdhost-bcm2835).
func driverOf(dir string) string {
	t, err := os.Readlink(filepath.Join(dir, "driver"))
	if err != nil {
		return ""
	}
	return filepath.Base(t)
}
