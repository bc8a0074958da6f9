//go:build !windows

package retention

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// freeBytes is what an unprivileged writer may still use on dir's
// filesystem (f_bavail, as df shows), not counting root's reserve.
func freeBytes(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, fmt.Errorf("free space of %s: %w", dir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
