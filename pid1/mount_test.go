package pid1

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestBaseMountsRendered(t *testing.T) {
	var got []string
	for _, m := range BaseMounts {
		got = append(got, m.String())
	}
	want := []string{
		"mount -t proc -o nosuid,nodev,noexec proc /proc (required)",
		"mount -t sysfs -o nosuid,nodev,noexec sysfs /sys (required)",
		"mount -t devtmpfs -o nosuid,mode=0755 devtmpfs /dev (required)",
		"mount -t devpts -o nosuid,noexec,gid=5,mode=0620,ptmxmode=0666 devpts /dev/pts (optional)",
		"mount -t tmpfs -o nosuid,nodev,mode=1777,size=16m tmpfs /tmp (optional)",
		"mount -t tmpfs -o nosuid,nodev,mode=0755,size=4m tmpfs /run (optional)",
	}
	if g, w := strings.Join(got, "\n"), strings.Join(want, "\n"); g != w {
		t.Errorf("BaseMounts =\n%s\nwant\n%s", g, w)
	}
	if got, want := BootMount("/dev/mmcblk0p1").String(), "mount -t vfat -o ro,nosuid,nodev,noexec /dev/mmcblk0p1 /boot (optional)"; got != want {
		t.Errorf("BootMount = %q, want %q", got, want)
	}
}

func TestMountAll(t *testing.T) {
	table := []Mount{
		{Source: "proc", Target: "/proc", FSType: "proc", Required: true},
		{Source: "devtmpfs", Target: "/dev", FSType: "devtmpfs", Required: true},
		{Source: "tmpfs", Target: "/tmp", FSType: "tmpfs"},
		{Source: "tmpfs", Target: "/run", FSType: "tmpfs"},
	}
	for _, tc := range []struct {
		name    string
		fail    map[string]error // target → error from mount
		wantErr string           // "" = success
		want    []string         // targets attempted
	}{
		{name: "all succeed", want: []string{"/proc", "/dev", "/tmp", "/run"}},
		{name: "devtmpfs already mounted by the kernel", fail: map[string]error{"/dev": unix.EBUSY},
			want: []string{"/proc", "/dev", "/tmp", "/run"}},
		{name: "optional fails, rest continue", fail: map[string]error{"/tmp": unix.ENODEV},
			want: []string{"/proc", "/dev", "/tmp", "/run"}},
		{name: "required fails, boot stops", fail: map[string]error{"/proc": unix.ENODEV},
			wantErr: "mount -t proc proc /proc (required): no such device", want: []string{"/proc"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var tried []string
			var logs []string
			err := MountAll(table, func(m Mount) error {
				tried = append(tried, m.Target)
				return tc.fail[m.Target]
			}, func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) })
			if tc.wantErr == "" && err != nil {
				t.Errorf("MountAll = %v, want nil", err)
			}
			if tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr) {
				t.Errorf("MountAll = %v, want %q", err, tc.wantErr)
			}
			if fmt.Sprint(tried) != fmt.Sprint(tc.want) {
				t.Errorf("mounted %v, want %v", tried, tc.want)
			}
			// Every attempt that did not stop the boot is logged.
			if err == nil && len(logs) != len(table) {
				t.Errorf("logged %d lines, want %d: %q", len(logs), len(table), logs)
			}
			if tc.fail["/proc"] != nil && !errors.Is(err, unix.ENODEV) {
				t.Errorf("MountAll error %v does not wrap ENODEV", err)
			}
		})
	}
}

// TestMountRetry: a mount that fails while the card settles (ENOENT,
// EIO) is tried again until it works; one that cannot work (ENODEV: no
// vfat) fails at once; a lasting transient error ends with the wait.
func TestMountRetry(t *testing.T) {
	for _, tc := range []struct {
		name  string
		errs  []error // what each call returns; nil after the list
		wait  time.Duration
		calls int
		ok    bool
	}{
		{"settles", []error{unix.ENOENT, unix.EIO}, time.Minute, 3, true},
		{"no driver", []error{unix.ENODEV}, time.Minute, 1, false},
		{"never", []error{unix.ENXIO, unix.ENXIO, unix.ENXIO, unix.ENXIO}, 0, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := mountRetry(func(Mount) error {
				calls++
				if calls <= len(tc.errs) {
					return tc.errs[calls-1]
				}
				return nil
			}, BootMount("/dev/mmcblk0p1"), tc.wait)
			if (err == nil) != tc.ok || calls != tc.calls {
				t.Errorf("mountRetry = %v after %d calls, want ok=%v after %d", err, calls, tc.ok, tc.calls)
			}
		})
	}
}
