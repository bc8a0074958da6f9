// Command guestinit is PID 1 of the guest that e2e's
// BenchmarkVirtSenderCPU boots on QEMU virt: it brings up just enough of
// a machine for two plain processes to send a clip to the host — camwire-
// init in recorder mode, and the shell-script recorder's cat | nc — and
// then carries out the host's commands (package guestbench). PID 1's
// duties stay here, so camwire-init runs as it does on a laptop: not as
// PID 1, and timed by its own rusage.
//
// Boot, in order: mount /proc, /sys, /dev (pid1.BaseMounts); load
// virtio_pci and virtio_net; wait for eth0; loopback and eth0 up with
// 10.0.2.15/24 (QEMU's user network, the host is 10.0.2.2); dial the
// control address from the kernel command line; serve; power off.
// Any failure is printed ("guestbench: fatal: …") and the guest powers
// off, so the host sees why instead of waiting.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/camwire/camwire/internal/guestbench"
	"github.com/camwire/camwire/pid1"
	"github.com/u-root/u-root/pkg/kmodule"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Address is the guest's on QEMU's user network.
const Address = "10.0.2.15/24"

func main() {
	if err := run(); err != nil {
		fmt.Printf("guestbench: fatal: %v\n", err)
	}
	unix.Sync()
	fmt.Println("guestbench: power off")
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {} // PID 1 must not exit: the kernel would panic.
}

func logf(format string, args ...any) { fmt.Printf("guestbench: "+format+"\n", args...) }

func run() error {
	// The kernel gives PID 1 no PATH; the guest's programs are in /bin.
	os.Setenv("PATH", "/bin")
	if err := pid1.MountAll(pid1.BaseMounts, pid1.SysMount("/"), func(string, ...any) {}); err != nil {
		return err
	}
	for _, err := range pid1.LoadModules([]string{"virtio_pci", "virtio_net"}, kmodule.ProbeOpts{}) {
		logf("%v", err)
	}
	if err := network(); err != nil {
		return err
	}
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return err
	}
	addr, err := guestbench.ControlAddr(string(cmdline))
	if err != nil {
		return err
	}
	c, err := net.DialTimeout("tcp", addr, time.Minute)
	if err != nil {
		return err
	}
	defer c.Close()
	logf("control connection to %s", addr)
	return (&guestbench.Guest{Logf: logf}).Serve(c)
}

// network waits for eth0 (virtio_net probes it asynchronously) and gives
// it the address; lo is up so nothing local surprises a program.
func network() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	eth, err := waitLink(ctx, "eth0")
	if err != nil {
		return err
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("LinkByName lo: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("LinkSetUp lo: %w", err)
	}
	a, err := netlink.ParseAddr(Address)
	if err != nil {
		return err
	}
	if err := netlink.AddrReplace(eth, a); err != nil {
		return fmt.Errorf("AddrReplace eth0 %s: %w", Address, err)
	}
	if err := netlink.LinkSetUp(eth); err != nil {
		return fmt.Errorf("LinkSetUp eth0: %w", err)
	}
	logf("eth0 %s up", Address)
	return nil
}

// waitLink returns the link once the kernel has it: subscribe first, then
// look, so a link that appears in between is not missed.
func waitLink(ctx context.Context, name string) (netlink.Link, error) {
	updates := make(chan netlink.LinkUpdate, 16)
	done := make(chan struct{})
	defer close(done)
	if err := netlink.LinkSubscribe(updates, done); err != nil {
		return nil, fmt.Errorf("LinkSubscribe: %w", err)
	}
	if l, err := netlink.LinkByName(name); err == nil {
		return l, nil
	}
	for {
		select {
		case u := <-updates:
			if u.Attrs().Name == name {
				return netlink.LinkByName(name)
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("no %s after a minute: %w", name, ctx.Err())
		}
	}
}
