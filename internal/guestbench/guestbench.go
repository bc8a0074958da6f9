// Package guestbench measures camwire-init's CPU cost against the
// shell-script recorder's sending half (cat FILE | nc HOST PORT) inside
// an emulated arm64 guest, where the Pi's figures cannot be had: both run
// as plain processes in the same guest, on the same clip, and the guest's
// kernel accounts their CPU time (the rusage of each child, its own
// children — sh, cat, sleep — included, as wait4 reports them).
//
// The host drives; the guest carries out. Over one TCP connection that
// the guest opens to the host (address on the kernel command line as
// guestbench.ctrl=HOST:PORT), the host sends one command a line and the
// guest answers each:
//
//	host                      guest
//	camwire HOST:PORT         started            camwire-init is recording the clip to HOST:PORT
//	stop                      cpu 1.234567       after the host's receiver stored the clip: SIGTERM, drain, CPU seconds
//	nc HOST:PORT              cpu 0.123456       sh -c 'cat CLIP | nc -N HOST PORT' ran to its end
//	quit                      bye                the guest powers off
//
// Any failure is answered "error MESSAGE" (one line) instead, and the
// guest waits for the next command. Text lines, so a person can read a
// session in a packet capture or drive a guest with nc by hand.
package guestbench

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Files in the guest's initramfs.
const (
	// Recorder is camwire-init, run as a plain process (not PID 1).
	Recorder = "/bench/camwire-init"
	// Clip is the H.264 both sides send.
	Clip = "/bench/clip.h264"
	// CmdlineKey is the kernel argument naming the host's control
	// address: guestbench.ctrl=10.0.2.2:PORT.
	CmdlineKey = "guestbench.ctrl"
)

// Programs are the Debian arm64 programs the guest runs, by the path the
// guest runs them from (on PATH=/bin) → the path inside their package.
// The initramfs carries these and the libraries they load (image/dynlib).
var Programs = map[string]string{
	"bin/sh":    "bin/dash",       // dash, Debian's /bin/sh
	"bin/cat":   "bin/cat",        // coreutils
	"bin/sleep": "bin/sleep",      // coreutils
	"bin/nc":    "bin/nc.openbsd", // netcat-openbsd, Debian's nc
}

// Packages hold Programs.
var Packages = []string{"dash", "coreutils", "netcat-openbsd"}

// ControlAddr reads the control address from a kernel command line.
func ControlAddr(cmdline string) (string, error) {
	for _, w := range strings.Fields(cmdline) {
		if v, ok := strings.CutPrefix(w, CmdlineKey+"="); ok {
			if _, _, err := net.SplitHostPort(v); err != nil {
				return "", fmt.Errorf("%s=%s: %w", CmdlineKey, v, err)
			}
			return v, nil
		}
	}
	return "", fmt.Errorf("no %s=HOST:PORT on the kernel command line %q", CmdlineKey, strings.TrimSpace(cmdline))
}

// Host is the host's end of a control connection.
type Host struct {
	conn net.Conn
	r    *bufio.Reader
	// Timeout bounds each answer; zero means 10 minutes (TCG is slow).
	Timeout time.Duration
}

// NewHost wraps the connection a guest opened.
func NewHost(c net.Conn) *Host { return &Host{conn: c, r: bufio.NewReader(c)} }

// StartCamwire starts camwire-init in the guest, recording to addr (as
// the guest reaches it).
func (h *Host) StartCamwire(addr string) error {
	ans, err := h.call("camwire " + addr)
	if err != nil {
		return err
	}
	if ans != "started" {
		return fmt.Errorf("guestbench: camwire %s: guest answered %q, want started", addr, ans)
	}
	return nil
}

// StopCamwire stops the camwire-init StartCamwire started and returns
// its CPU time.
func (h *Host) StopCamwire() (time.Duration, error) { return h.cpu("stop") }

// NC runs cat CLIP | nc -N to addr in the guest and returns its CPU time.
func (h *Host) NC(addr string) (time.Duration, error) { return h.cpu("nc " + addr) }

// Quit tells the guest to power off.
func (h *Host) Quit() error {
	ans, err := h.call("quit")
	if err == nil && ans != "bye" {
		err = fmt.Errorf("guestbench: quit: guest answered %q, want bye", ans)
	}
	return err
}

func (h *Host) cpu(cmd string) (time.Duration, error) {
	ans, err := h.call(cmd)
	if err != nil {
		return 0, err
	}
	return ParseCPU(ans)
}

// ParseCPU reads a "cpu SECONDS" answer.
func ParseCPU(ans string) (time.Duration, error) {
	v, ok := strings.CutPrefix(ans, "cpu ")
	if !ok {
		return 0, fmt.Errorf("guestbench: guest answered %q, want cpu SECONDS", ans)
	}
	s, err := strconv.ParseFloat(v, 64)
	if err != nil || s < 0 {
		return 0, fmt.Errorf("guestbench: guest answered %q: not a CPU time", ans)
	}
	return time.Duration(s * float64(time.Second)), nil
}

// FormatCPU is the answer for d of CPU time.
func FormatCPU(d time.Duration) string { return fmt.Sprintf("cpu %.6f", d.Seconds()) }

// call sends one command and reads its answer; "error …" is an error.
func (h *Host) call(cmd string) (string, error) {
	t := h.Timeout
	if t == 0 {
		t = 10 * time.Minute
	}
	h.conn.SetDeadline(time.Now().Add(t))
	if _, err := fmt.Fprintf(h.conn, "%s\n", cmd); err != nil {
		return "", fmt.Errorf("guestbench: sending %q: %w", cmd, err)
	}
	line, err := h.r.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("guestbench: answer to %q: %w", cmd, err)
	}
	line = strings.TrimRight(line, "\r\n")
	if msg, ok := strings.CutPrefix(line, "error "); ok {
		return "", fmt.Errorf("guestbench: %s: guest: %s", cmd, msg)
	}
	return line, nil
}

// errQuit ends Guest.Serve after "quit".
var errQuit = errors.New("quit")
