package qemu

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"time"
)

// escapeRE matches the terminal escapes the monitor sends while it
// echoes a command.
var escapeRE = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// Monitor runs one human-monitor command (e.g. "set_link n0 off",
// "sendkey ctrl-alt-delete") and returns its output.
func (m *Machine) Monitor(cmd string) (string, error) {
	var c net.Conn
	var err error
	for i := 0; i < 50; i++ { // the socket appears once QEMU has set up
		if c, err = net.Dial("unix", m.monPath); err == nil {
			break
		}
		select {
		case <-m.done:
			return "", m.stopped(fmt.Sprintf("before its monitor answered %q", cmd))
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err != nil {
		return "", fmt.Errorf("qemu monitor: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	// The monitor greets with a banner and a "(qemu) " prompt; answer
	// lines follow the echoed command up to the next prompt.
	if _, err := readUntil(br, "(qemu) "); err != nil {
		return "", fmt.Errorf("qemu monitor: %w", err)
	}
	if _, err := io.WriteString(c, cmd+"\n"); err != nil {
		return "", err
	}
	out, err := readUntil(br, "(qemu) ")
	if err != nil {
		return "", fmt.Errorf("qemu monitor %q: %w", cmd, err)
	}
	// Drop terminal escapes and the echo.
	out = escapeRE.ReplaceAllString(out, "")
	lines := strings.Split(strings.ReplaceAll(out, "\r", ""), "\n")
	var res []string
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" && !strings.HasSuffix(l, cmd) && l != "(qemu)" {
			res = append(res, l)
		}
	}
	return strings.Join(res, "\n"), nil
}

func readUntil(br *bufio.Reader, suffix string) (string, error) {
	var b strings.Builder
	for !strings.HasSuffix(b.String(), suffix) {
		c, err := br.ReadByte()
		if err != nil {
			return b.String(), err
		}
		b.WriteByte(c)
	}
	return strings.TrimSuffix(b.String(), suffix), nil
}

// CtrlAltDel presses Ctrl-Alt-Del on the machine's keyboard: the clean
// shutdown request (camwire-init gets SIGINT).
func (m *Machine) CtrlAltDel() error {
	_, err := m.Monitor("sendkey ctrl-alt-delete")
	return err
}

// SetLink takes the NIC's cable out (false) or back in (true).
func (m *Machine) SetLink(netID string, up bool) error {
	state := "off"
	if up {
		state = "on"
	}
	out, err := m.Monitor("set_link " + netID + " " + state)
	if err == nil && out != "" {
		err = fmt.Errorf("qemu monitor set_link: %s", out)
	}
	return err
}
