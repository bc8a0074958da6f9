// Command testinit is a minimal PID 1 that proves the image's boot path
// before camwire-init exists: it loads the virt board's NIC modules with
// u-root's kmodule from the initramfs's modules.dep, sets the address from
// camwire.address= with netlink, sends one line to camwire.receiver= and
// powers off. It prints markers the tests wait for.
package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/u-root/u-root/pkg/kmodule"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func main() {
	start := time.Now()
	fmt.Println("testinit: start")
	err := run(start)
	if err != nil {
		fmt.Println("testinit: error:", err)
	}
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
}

func run(start time.Time) error {
	for _, m := range []struct{ src, dst, fs string }{{"proc", "/proc", "proc"}, {"sys", "/sys", "sysfs"}, {"dev", "/dev", "devtmpfs"}} {
		if err := unix.Mount(m.src, m.dst, m.fs, 0, ""); err != nil {
			return fmt.Errorf("mount %s: %w", m.dst, err)
		}
	}
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return err
	}
	args := map[string]string{}
	for _, f := range strings.Fields(string(cmdline)) {
		if k, v, ok := strings.Cut(f, "="); ok {
			args[k] = v
		}
	}
	for _, m := range strings.Split(args["testinit.modules"], ",") {
		if m == "" {
			continue
		}
		if err := kmodule.Probe(m, ""); err != nil {
			return fmt.Errorf("probe %s: %w", m, err)
		}
		fmt.Println("testinit: loaded", m)
	}
	var link netlink.Link
	for link == nil {
		links, err := netlink.LinkList()
		if err != nil {
			return err
		}
		for _, l := range links {
			if l.Type() == "device" && l.Attrs().Name != "lo" {
				link = l
			}
		}
		if time.Since(start) > 60*time.Second {
			return fmt.Errorf("no NIC after 60 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	addr, err := netlink.ParseAddr(args["camwire.address"])
	if err != nil {
		return err
	}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("AddrReplace: %w", err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return fmt.Errorf("LinkSetUp: %w", err)
	}
	fmt.Printf("testinit: address %s on %s after %v\n", addr, link.Attrs().Name, time.Since(start).Round(time.Millisecond))
	var c net.Conn
	for {
		c, err = net.DialTimeout("tcp", args["camwire.receiver"], time.Second)
		if err == nil {
			break
		}
		if time.Since(start) > 60*time.Second {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
	fmt.Fprintf(c, "hello from testinit %s\n", addr)
	c.(*net.TCPConn).CloseWrite()
	b := make([]byte, 64)
	n, _ := c.Read(b)
	c.Close()
	fmt.Printf("testinit: receiver said %q\n", b[:n])
	fmt.Println("testinit: done")
	return nil
}
