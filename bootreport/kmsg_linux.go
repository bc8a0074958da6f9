package bootreport

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// KernelLog returns the kernel's log ring, oldest line first, as dmesg
// prints it. It reads kmsg (/dev/kmsg) without blocking — each read is
// one record, EAGAIN is the end — and falls back to syslog(2) when kmsg
// cannot be opened (no devtmpfs, or an older kernel).
func KernelLog(kmsg string) ([]string, error) {
	fd, err := unix.Open(kmsg, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		lines, serr := syslogAll()
		if serr != nil {
			return nil, fmt.Errorf("%s: %v; syslog(2): %v", kmsg, err, serr)
		}
		return lines, nil
	}
	defer unix.Close(fd)
	var out []string
	buf := make([]byte, 8192) // a record is at most ~1 KiB plus its dictionary
	for {
		n, err := unix.Read(fd, buf)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return out, nil
		case errors.Is(err, unix.EPIPE):
			continue // records were overwritten while we read; go on with the oldest left
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return out, fmt.Errorf("read %s: %w", kmsg, err)
		case n == 0:
			return out, nil
		}
		if l, ok := parseKmsg(string(buf[:n])); ok {
			out = append(out, l)
		}
	}
}

func syslogAll() ([]string, error) {
	size, err := unix.Klogctl(unix.SYSLOG_ACTION_SIZE_BUFFER, nil)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, size)
	n, err := unix.Klogctl(unix.SYSLOG_ACTION_READ_ALL, buf)
	if err != nil {
		return nil, err
	}
	return parseSyslog(string(buf[:n])), nil
}
