package testkit

import "os/exec"

// UnshareMounts is an unshare(1) command that runs the shell script with
// args ($0, $1, …) in a mount namespace of its own, so that what the
// script mounts (a chroot's /proc, a directory bound over another) ends
// with it.
//
// unshare --propagation private makes every mount private first, which
// fails where / is no mount point: in a chroot, such as the root of
// ../shared/tools/fresh-machine ("cannot change root filesystem
// propagation: Invalid argument"). So propagation is left unchanged and
// the script makes / private itself when it can. In a chroot it cannot:
// the mount that holds the chroot is outside it, and if the host marked
// that mount shared, the script's mounts also show on the host until the
// host's own clean-up of the chroot; the machines of this project keep
// their mounts private.
func UnshareMounts(script string, args ...string) *exec.Cmd {
	const prelude = "mount --make-rprivate / 2>/dev/null || true\n"
	return exec.Command("unshare", append([]string{"--mount", "--propagation", "unchanged", "sh", "-c", prelude + script}, args...)...)
}
