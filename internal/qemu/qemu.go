// Package qemu runs camwire's emulated boards: qemu-system-aarch64 as
// the QEMU "virt" machine (fast, virtio NIC and disk) or as "raspi3b" (a
// Raspberry Pi 3 B: the real device tree, SD card, USB). The serial
// console is read line by line so tests wait for markers instead of
// sleeping, and the human monitor on a unix socket injects faults
// (set_link) and a Ctrl-Alt-Del for a clean shutdown.
package qemu

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Binary is the emulator; Debian package qemu-system-arm.
const Binary = "qemu-system-aarch64"

// Board names.
const (
	Virt    = "virt"
	Raspi3b = "raspi3b"
)

// Config is one machine.
type Config struct {
	// Board is Virt or Raspi3b.
	Board string
	// Kernel is the arm64 Image, Initrd the initramfs.
	Kernel, Initrd string
	// DTB is the device tree (raspi3b needs the Pi's; virt makes its own).
	DTB string
	// Append is the kernel command line.
	Append string
	// Disk is a raw image: the SD card on raspi3b, a virtio disk on virt.
	// On raspi3b its size must be a power of two.
	Disk string
	// NetID is the -netdev id, for Monitor("set_link <id> off"); default "n0".
	NetID string
	// Memory in MiB; default 512 (virt). raspi3b is fixed at 1024.
	Memory int
	// Console, if set, gets a copy of every console line (test logs).
	Console io.Writer
	// Input connects the serial console's input, for Type.
	Input bool
	// Dir holds the monitor socket; default a new temporary directory.
	Dir string
	// Watchdog lets a raspi3b guest load bcm2835_wdt. By default Args
	// adds module_blacklist=bcm2835_wdt to the kernel command line:
	// QEMU 7.2's model of the Pi's power manager resets the machine the
	// moment the watchdog starts (any RSTC write with the reset bit)
	// instead of after its timeout, so camwire-init opening
	// /dev/watchdog would end the run. Without the module the guest has
	// no power-off either (bcm2835_wdt provides it): power-off halts
	// ("reboot: System halted") and the caller closes the machine.
	Watchdog bool
	// OwnGroup runs the emulator in its own process group, so a Ctrl-C
	// typed in the terminal does not kill it: the caller shuts the guest
	// down cleanly instead (make demo). Tests leave it off, so a Ctrl-C
	// of go test also ends the emulator.
	OwnGroup bool
}

// NoWatchdog is the kernel argument Args adds on raspi3b; see
// Config.Watchdog.
const NoWatchdog = "module_blacklist=bcm2835_wdt"

// Machine is a running emulator.
type Machine struct {
	Started time.Time

	cmd     *exec.Cmd
	stdin   io.WriteCloser
	monPath string
	tmpDir  string
	done    chan struct{}
	waitErr error

	mu      sync.Mutex
	lines   []Line
	partial []byte
	changed chan struct{} // closed and replaced on every new line
	eof     bool
}

// Line is one console line and when it arrived.
type Line struct {
	Text string
	At   time.Time
}

// Available says why the emulator cannot run here, or nil.
func Available() error {
	if _, err := exec.LookPath(Binary); err != nil {
		return fmt.Errorf("%s not installed (Debian package qemu-system-arm)", Binary)
	}
	return nil
}

// Args returns the emulator's command line for c (without the monitor).
func Args(c Config) ([]string, error) {
	netID := c.NetID
	if netID == "" {
		netID = "n0"
	}
	appendArgs := c.Append
	if c.Board == Raspi3b && !c.Watchdog {
		appendArgs = strings.TrimSpace(appendArgs + " " + NoWatchdog)
	}
	args := []string{"-display", "none", "-no-reboot", "-kernel", c.Kernel, "-append", appendArgs}
	if c.Initrd != "" {
		args = append(args, "-initrd", c.Initrd)
	}
	switch c.Board {
	case Virt:
		mem := c.Memory
		if mem == 0 {
			mem = 512
		}
		args = append([]string{"-M", "virt", "-cpu", "cortex-a53", "-smp", "2", "-m", fmt.Sprint(mem)}, args...)
		args = append(args,
			"-netdev", "user,id="+netID, "-device", "virtio-net-pci,netdev="+netID,
			// A keyboard: the monitor's sendkey ctrl-alt-delete reaches
			// PID 1 as SIGINT (camwire-init turns the kernel's instant
			// reboot off), the clean shutdown a real Pi gets from its
			// USB keyboard.
			"-device", "virtio-keyboard-pci")
		if c.Disk != "" {
			args = append(args, "-drive", "if=none,id=d0,format=raw,file="+c.Disk, "-device", "virtio-blk-pci,drive=d0")
		}
	case Raspi3b:
		if c.DTB == "" {
			return nil, errors.New("qemu: raspi3b needs the Pi's device tree (DTB)")
		}
		args = append([]string{"-M", "raspi3b"}, args...)
		args = append(args, "-dtb", c.DTB,
			"-netdev", "user,id="+netID, "-device", "usb-net,netdev="+netID,
			"-device", "usb-kbd")
		if c.Disk != "" {
			fi, err := os.Stat(c.Disk)
			if err != nil {
				return nil, err
			}
			if s := fi.Size(); s&(s-1) != 0 {
				return nil, fmt.Errorf("qemu: SD card %s is %d bytes, QEMU needs a power of two", c.Disk, s)
			}
			args = append(args, "-drive", "if=sd,format=raw,file="+c.Disk)
		}
	default:
		return nil, fmt.Errorf("qemu: unknown board %q (want %s or %s)", c.Board, Virt, Raspi3b)
	}
	return args, nil
}

// Start boots the machine. ctx ending kills it. Call Close when done.
func Start(ctx context.Context, c Config) (_ *Machine, err error) {
	if err := Available(); err != nil {
		return nil, err
	}
	args, err := Args(c)
	if err != nil {
		return nil, err
	}
	m := &Machine{done: make(chan struct{}), changed: make(chan struct{})}
	dir := c.Dir
	if dir == "" {
		// Unix socket paths are limited to 108 bytes: keep it short.
		if dir, err = os.MkdirTemp("", "qemu-"); err != nil {
			return nil, err
		}
		m.tmpDir = dir
		// Close removes it once the emulator runs; before that, a
		// failure has no Machine to Close.
		defer func() {
			if err != nil {
				os.RemoveAll(dir)
			}
		}()
	}
	m.monPath = filepath.Join(dir, "mon.sock")
	args = append(args, "-monitor", "unix:"+m.monPath+",server,nowait", "-serial", "stdio")
	m.cmd = exec.CommandContext(ctx, Binary, args...)
	if c.OwnGroup {
		m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	if c.Input {
		if m.stdin, err = m.cmd.StdinPipe(); err != nil {
			return nil, err
		}
	}
	out, err := m.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr bytes.Buffer
	m.cmd.Stderr = &stderr
	m.Started = time.Now()
	if err := m.cmd.Start(); err != nil {
		return nil, fmt.Errorf("qemu: %w", err)
	}
	readDone := make(chan struct{})
	go m.read(out, c.Console, readDone)
	go func() {
		<-readDone
		err := m.cmd.Wait()
		if err != nil && stderr.Len() > 0 {
			err = fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
		}
		m.mu.Lock()
		m.waitErr = err
		m.mu.Unlock()
		close(m.done)
	}()
	return m, nil
}

// read splits the console into lines. Serial output uses \r\n.
func (m *Machine) read(r io.Reader, copyTo io.Writer, done chan struct{}) {
	defer close(done)
	br := bufio.NewReader(r)
	for {
		b, err := br.ReadBytes('\n')
		if len(b) > 0 {
			text := strings.TrimRight(string(b), "\r\n")
			if copyTo != nil && strings.HasSuffix(string(b), "\n") {
				fmt.Fprintln(copyTo, text)
			}
			if strings.HasSuffix(string(b), "\n") || err != nil {
				m.add(text)
			}
		}
		if err != nil {
			m.mu.Lock()
			m.eof = true
			close(m.changed)
			m.changed = make(chan struct{})
			m.mu.Unlock()
			return
		}
	}
}

func (m *Machine) add(text string) {
	m.mu.Lock()
	m.lines = append(m.lines, Line{Text: text, At: time.Now()})
	close(m.changed)
	m.changed = make(chan struct{})
	m.mu.Unlock()
}

// Lines returns the console so far.
func (m *Machine) Lines() []Line {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Line(nil), m.lines...)
}

// Cursor is a position in the console for successive waits.
type Cursor int

// WaitFor returns the first console line at or after *from that matches
// re, and moves *from past it. It fails when ctx ends or the machine
// stops first; the error quotes the console's last lines.
func (m *Machine) WaitFor(ctx context.Context, from *Cursor, re *regexp.Regexp) (Line, error) {
	var start Cursor
	if from != nil {
		start = *from
	}
	for {
		m.mu.Lock()
		for i := int(start); i < len(m.lines); i++ {
			if re.MatchString(m.lines[i].Text) {
				l := m.lines[i]
				m.mu.Unlock()
				if from != nil {
					*from = Cursor(i + 1)
				}
				return l, nil
			}
		}
		start = Cursor(len(m.lines))
		ch, eof := m.changed, m.eof
		m.mu.Unlock()
		if eof {
			return Line{}, fmt.Errorf("qemu: machine stopped before a console line matched %q; last lines:\n%s", re, m.tail(15))
		}
		select {
		case <-ctx.Done():
			return Line{}, fmt.Errorf("qemu: %w waiting for %q; last lines:\n%s", ctx.Err(), re, m.tail(15))
		case <-ch:
		}
	}
}

func (m *Machine) tail(n int) string {
	ls := m.Lines()
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	var b strings.Builder
	for _, l := range ls {
		b.WriteString("  | " + l.Text + "\n")
	}
	return b.String()
}

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
			return "", errors.New("qemu: machine stopped")
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
	out = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`).ReplaceAllString(out, "")
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

// Type sends text to the serial console (Config.Input must be set).
func (m *Machine) Type(s string) error {
	if m.stdin == nil {
		return errors.New("qemu: console input not connected (Config.Input)")
	}
	_, err := io.WriteString(m.stdin, s)
	return err
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

// Wait waits for the emulator to exit (the guest powered off, with
// -no-reboot also a reboot or panic) or ctx to end.
func (m *Machine) Wait(ctx context.Context) error {
	select {
	case <-m.done:
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.waitErr
	case <-ctx.Done():
		return fmt.Errorf("qemu: %w waiting for the machine to stop; last lines:\n%s", ctx.Err(), m.tail(15))
	}
}

// Close kills the emulator if it still runs and removes its files.
func (m *Machine) Close() {
	select {
	case <-m.done:
	default:
		m.cmd.Process.Kill()
		<-m.done
	}
	if m.tmpDir != "" {
		os.RemoveAll(m.tmpDir)
	}
}

// haltedRE is the kernel's last line when it stops the CPUs without
// powering off (printed at emergency level, so also with "quiet").
var haltedRE = regexp.MustCompile(`reboot: (System halted|Power down)`)

// WaitOff waits until the guest has shut down: QEMU exits (virt, or a
// guest that can power off), or the kernel prints that it halted — a
// raspi3b without bcm2835_wdt (see Config.Watchdog) has no power-off, so
// its CPUs stop and QEMU would run on; WaitOff then ends the emulator.
func (m *Machine) WaitOff(ctx context.Context) error {
	var from Cursor
	if _, err := m.WaitFor(ctx, &from, haltedRE); err != nil {
		select {
		case <-m.done: // exited without the line: powered off
			return m.Wait(ctx)
		default:
			return err
		}
	}
	m.cmd.Process.Kill()
	<-m.done
	return nil
}
