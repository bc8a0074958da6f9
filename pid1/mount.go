package pid1

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Mount is one line of PID 1's mount table. The table is data so it can be
// read in one place, printed in the boot log and tested without a kernel
// (u-root pkg/libinit does the same with its []Creator).
type Mount struct {
	Source string
	Target string
	FSType string
	Flags  uintptr
	Data   string
	// Required mounts stop the boot when they fail: without /proc, /sys or
	// /dev nothing after them can work. The others are logged and skipped.
	Required bool
}

// String renders the mount like mount(8)'s command line, for logs and tests.
func (m Mount) String() string {
	var opts []string
	for _, f := range []struct {
		bit  uintptr
		name string
	}{
		{unix.MS_RDONLY, "ro"},
		{unix.MS_NOSUID, "nosuid"},
		{unix.MS_NODEV, "nodev"},
		{unix.MS_NOEXEC, "noexec"},
		{unix.MS_NOATIME, "noatime"},
	} {
		if m.Flags&f.bit != 0 {
			opts = append(opts, f.name)
		}
	}
	if m.Data != "" {
		opts = append(opts, m.Data)
	}
	o := ""
	if len(opts) > 0 {
		o = " -o " + strings.Join(opts, ",")
	}
	kind := "optional"
	if m.Required {
		kind = "required"
	}
	return fmt.Sprintf("mount -t %s%s %s %s (%s)", m.FSType, o, m.Source, m.Target, kind)
}

// BaseMounts is what PID 1 mounts before anything else. /dev comes from
// devtmpfs so device nodes (mmcblk0p1, video0, watchdog) appear by
// themselves as drivers load; there is no udev.
var BaseMounts = []Mount{
	{Source: "proc", Target: "/proc", FSType: "proc", Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, Required: true},
	{Source: "sysfs", Target: "/sys", FSType: "sysfs", Flags: unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, Required: true},
	{Source: "devtmpfs", Target: "/dev", FSType: "devtmpfs", Flags: unix.MS_NOSUID, Data: "mode=0755", Required: true},
	// The rest only serve tools (raspivid writes nothing, but a debugging
	// shell or a future helper may): best-effort.
	{Source: "devpts", Target: "/dev/pts", FSType: "devpts", Flags: unix.MS_NOSUID | unix.MS_NOEXEC, Data: "gid=5,mode=0620,ptmxmode=0666"},
	{Source: "tmpfs", Target: "/tmp", FSType: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: "mode=1777,size=16m"},
	{Source: "tmpfs", Target: "/run", FSType: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: "mode=0755,size=4m"},
}

// BootMount mounts the SD card's FAT partition read-only: camwire never
// writes it, so pulling power can never corrupt it.
func BootMount(dev string) Mount {
	return Mount{Source: dev, Target: "/boot", FSType: "vfat",
		Flags: unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC}
}

// MountFunc performs one mount; tests replace it to record calls.
type MountFunc func(m Mount) error

// SysMount is the real MountFunc: it creates the target directory and
// mounts. The initramfs may already have the directory; the kernel may
// already have mounted devtmpfs (CONFIG_DEVTMPFS_MOUNT) — callers see EBUSY
// for that and MountAll tolerates it.
func SysMount(root string) MountFunc {
	return func(m Mount) error {
		target := filepath.Join(root, m.Target)
		if err := os.MkdirAll(target, 0o755); err != nil {
			return err
		}
		return unix.Mount(m.Source, target, m.FSType, m.Flags, m.Data)
	}
}

// MountAll mounts the table in order. A required mount that fails stops
// the table and returns its error; an optional one is logged. EBUSY means
// the file system is already mounted there (the kernel mounts devtmpfs on
// /dev itself when CONFIG_DEVTMPFS_MOUNT is set): that is success.
func MountAll(table []Mount, mount MountFunc, logf func(string, ...any)) error {
	for _, m := range table {
		err := mount(m)
		switch {
		case err == nil:
			logf("%v", m)
		case errors.Is(err, unix.EBUSY):
			logf("%v: already mounted", m)
		case m.Required:
			return fmt.Errorf("%v: %w", m, err)
		default:
			logf("%v: %v (continuing without it)", m, err)
		}
	}
	return nil
}
