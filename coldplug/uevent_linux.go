package coldplug

import (
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// ueventSocket reads the kernel's uevents from NETLINK_KOBJECT_UEVENT,
// multicast group 1 (the kernel's; udev uses 2). Hand-written on
// x/sys/unix: u-root has no uevent reader, and this is one socket, one
// bind and a read loop.
type ueventSocket struct {
	fd int
}

// errOverrun means the socket's buffer overflowed and events were lost;
// the caller rescans sysfs.
var errOverrun = errors.New("uevent: receive buffer overrun (events lost)")

// errIgnored is a message not from the kernel (udev's, another
// process's): read on.
var errIgnored = errors.New("uevent: not from the kernel")

func openUevents() (*ueventSocket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		return nil, fmt.Errorf("uevent socket: %w", err)
	}
	// Room for a burst: a USB hub enumerating or a module registering
	// dozens of children at once.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("uevent bind: %w", err)
	}
	return &ueventSocket{fd: fd}, nil
}

// read returns the next event, waiting at most timeout (so the caller can
// look at its context); os.ErrDeadlineExceeded when none came.
func (s *ueventSocket) read(timeout time.Duration) (Uevent, error) {
	fds := []unix.PollFd{{Fd: int32(s.fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, int(timeout.Milliseconds()))
	if err != nil {
		if errors.Is(err, unix.EINTR) {
			return Uevent{}, os.ErrDeadlineExceeded
		}
		return Uevent{}, fmt.Errorf("uevent poll: %w", err)
	}
	if n == 0 {
		return Uevent{}, os.ErrDeadlineExceeded
	}
	buf := make([]byte, 16<<10)
	m, from, err := unix.Recvfrom(s.fd, buf, 0)
	switch {
	case errors.Is(err, unix.ENOBUFS):
		return Uevent{}, errOverrun
	case errors.Is(err, unix.EINTR), errors.Is(err, unix.EAGAIN):
		return Uevent{}, os.ErrDeadlineExceeded
	case err != nil:
		return Uevent{}, fmt.Errorf("uevent read: %w", err)
	}
	if nl, ok := from.(*unix.SockaddrNetlink); !ok || nl.Pid != 0 {
		// Not from the kernel (port 0): ignore it.
		return Uevent{}, errIgnored
	}
	return ParseUevent(buf[:m])
}

func (s *ueventSocket) close() error { return unix.Close(s.fd) }
