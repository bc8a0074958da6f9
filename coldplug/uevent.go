package coldplug

import (
	"bytes"
	"fmt"
)

// Uevent is one kernel object event: "add", "remove", "bind" … with its
// environment (DEVPATH, SUBSYSTEM, MODALIAS, …).
type Uevent struct {
	Action string
	Env    map[string]string
}

// ParseUevent decodes a kernel uevent datagram: a header "ACTION@DEVPATH"
// then NUL-separated KEY=VALUE pairs. Messages that udev rebroadcasts
// (header "libudev") are rejected; only the kernel's are read here.
func ParseUevent(b []byte) (Uevent, error) {
	parts := bytes.Split(bytes.TrimRight(b, "\x00"), []byte{0})
	if len(parts) == 0 || !bytes.Contains(parts[0], []byte("@")) {
		return Uevent{}, fmt.Errorf("uevent: no ACTION@DEVPATH header in %q", b)
	}
	ev := Uevent{Env: map[string]string{}}
	for _, p := range parts[1:] {
		k, v, ok := bytes.Cut(p, []byte("="))
		if ok {
			ev.Env[string(k)] = string(v)
		}
	}
	ev.Action = ev.Env["ACTION"]
	if ev.Action == "" {
		a, _, _ := bytes.Cut(parts[0], []byte("@"))
		ev.Action = string(a)
	}
	return ev, nil
}
