// Command gadgetinit is the guest side of the e2e gadget test: PID 1 of
// a QEMU virt machine that is both the camera and the laptop, joined by
// dummy_hcd's emulated USB cable inside the one kernel.
//
// The camera side is camwire's own code as camwire-init runs it on a Pi:
// pid1.SetupGadget (modules by name, configfs, the gadget bound to the
// first UDC, its RNDIS and NCM interfaces joined in the bridge
// camwire0), pid1.Network (netcfg on the bridge with the DHCP server)
// and the recorder with the test picture. The laptop side binds both
// network functions with the kernel's host drivers, as a Linux laptop
// does: cdc_ncm and rndis_host. The interface of the one it uses is
// moved into a network namespace of its own, where a real DHCP client
// (insomniacslk's nclient4) leases the receiver address from camwire's
// server and camwire-recv's server (package recv) records; the other is
// up in a namespace of its own and left alone. At the end every
// recording is printed on the console in base64 for the host to check
// with ffprobe.
//
// Settings come from the kernel command line (camwire.KEY=VALUE);
// gadgetinit.files=N stops the recorder after N finished files,
// gadgetinit.via=cdc_ncm (the default) or rndis_host picks the function
// the laptop uses.
package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/camwire/camwire/config"
	"github.com/camwire/camwire/gadget"
	"github.com/camwire/camwire/pid1"
	"github.com/camwire/camwire/recorder"
	"github.com/camwire/camwire/recv"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/u-root/u-root/pkg/kmodule"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

func main() {
	if err := run(); err != nil {
		fmt.Println("gadgetinit: error:", err)
	}
	unix.Sync()
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
}

func logf(f string, a ...any) { fmt.Printf("gadgetinit: "+f+"\n", a...) }

func run() error {
	for _, m := range []struct{ src, dst, fs string }{{"proc", "/proc", "proc"}, {"sys", "/sys", "sysfs"}, {"dev", "/dev", "devtmpfs"}, {"tmp", "/tmp", "tmpfs"}} {
		os.MkdirAll(m.dst, 0o755)
		if err := unix.Mount(m.src, m.dst, m.fs, 0, ""); err != nil && err != unix.EBUSY {
			return fmt.Errorf("mount %s: %w", m.dst, err)
		}
	}
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return err
	}
	cfg, probs := config.Load(config.Layers{Cmdline: string(cmdline)})
	for _, p := range probs {
		logf("setting: %v", p)
	}
	nfiles, via := 3, "cdc_ncm"
	for _, f := range strings.Fields(string(cmdline)) {
		if v, ok := strings.CutPrefix(f, "gadgetinit.files="); ok {
			nfiles, _ = strconv.Atoi(v)
		}
		if v, ok := strings.CutPrefix(f, "gadgetinit.via="); ok {
			via = v
		}
	}
	if err := kmodule.Probe("dummy_hcd", ""); err != nil {
		return fmt.Errorf("probe dummy_hcd: %w", err)
	}
	// The camera: the same calls camwire-init's usb-gadget and network
	// steps make.
	_, link, err := pid1.SetupGadget(cfg, "gadgettest0001", logf)
	if err != nil {
		return err
	}
	// As the usb-gadget step does on the Zero 2 W: the network is on
	// the gadget's bridge (RNDIS's and NCM's interfaces joined).
	if link != gadget.BridgeName {
		return fmt.Errorf("network link %q, want the bridge %s", link, gadget.BridgeName)
	}
	cfg.Interface = link
	logf("network on %s", cfg.Interface)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	network := func() {
		go func() {
			if err := pid1.Network(ctx, cfg, logf); err != nil && ctx.Err() == nil {
				logf("network: %v", err)
			}
		}()
	}

	// The laptop: like a Linux laptop, it binds both network
	// functions, NCM with cdc_ncm and RNDIS with rndis_host. It uses
	// the one gadgetinit.via names; the other is up in a namespace of
	// its own, a second NIC the laptop leaves alone. The camera's
	// network starts once both are up: under dummy_hcd, frames the
	// gadget queued before the host side read its endpoint sometimes
	// never moved (no request completed in either direction for
	// minutes, with or without the bridge, 5 of 55 boots under load),
	// a flaw of the emulated cable this order keeps out of the test.
	hosts := map[string]string{}
	for _, drv := range []string{"cdc_ncm", "rndis_host"} {
		if err := kmodule.Probe(drv, ""); err != nil {
			return fmt.Errorf("probe %s: %w", drv, err)
		}
		if hosts[drv], err = waitDriverLink(drv, time.Minute); err != nil {
			return err
		}
		logf("laptop side: %s (%s)", hosts[drv], drv)
	}
	host, ok := hosts[via]
	if !ok {
		return fmt.Errorf("gadgetinit.via=%s: want cdc_ncm or rndis_host", via)
	}
	for drv, other := range hosts {
		if drv != via {
			if err := idle(other); err != nil {
				return fmt.Errorf("laptop side %s: %w", other, err)
			}
		}
	}
	logf("laptop uses %s (%s)", host, via)
	dir := "/tmp/rec"
	finished := make(chan string, 64)
	srv := &recv.Server{Dir: dir, Logger: slog.New(slog.NewTextHandler(os.Stdout, nil)),
		OnFile: func(_, p string) { finished <- p }}
	ln, err := laptop(ctx, host, network)
	if err != nil {
		return err
	}
	srvCtx, srvStop := context.WithCancel(context.Background())
	defer srvStop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(srvCtx, ln) }()

	recCtx, recStop := context.WithCancel(ctx)
	defer recStop()
	recDone := make(chan error, 1)
	go func() {
		r := &recorder.Recorder{Config: cfg, Out: os.Stdout, Logger: slog.New(slog.NewTextHandler(os.Stdout, nil))}
		recDone <- r.Run(recCtx)
	}()
	for i := 0; i < nfiles; i++ {
		select {
		case p := <-finished:
			logf("file finished %s", p)
		case err := <-recDone:
			return fmt.Errorf("recorder ended early: %v", err)
		case <-time.After(2 * time.Minute):
			return fmt.Errorf("only %d of %d files finished", i, nfiles)
		}
	}
	recStop()
	if err := <-recDone; err != nil {
		logf("recorder: %v", err)
	}
	srvStop()
	<-served
	if err := dump(dir); err != nil {
		return err
	}
	logf("done")
	return nil
}

// waitDriverLink waits for a network interface whose device is bound to
// driver. Polling sysfs: gadgetinit has no uevent listener, and the
// wait ends as soon as the interface is there.
func waitDriverLink(driver string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		m, _ := filepath.Glob("/sys/class/net/*/device/driver")
		for _, p := range m {
			if t, err := os.Readlink(p); err == nil && filepath.Base(t) == driver {
				return filepath.Base(filepath.Dir(filepath.Dir(p))), nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "", fmt.Errorf("no %s interface within %v", driver, timeout)
}

// laptop moves ifname into a new network namespace and brings it up,
// calls ready, leases an address there with a DHCP client, and returns
// a listener on the receiver port in it.
func laptop(ctx context.Context, ifname string, ready func()) (net.Listener, error) {
	type result struct {
		ln  net.Listener
		err error
	}
	res := make(chan result, 1)
	go func() {
		// This thread enters the namespace and never leaves: it is
		// never reused for the camera's side.
		runtime.LockOSThread()
		ln, err := func() (net.Listener, error) {
			orig, err := netns.Get()
			if err != nil {
				return nil, err
			}
			ns, err := netns.New()
			if err != nil {
				return nil, fmt.Errorf("netns.New: %w", err)
			}
			h0, err := netlink.NewHandleAt(orig, unix.NETLINK_ROUTE)
			if err != nil {
				return nil, err
			}
			l, err := h0.LinkByName(ifname)
			if err != nil {
				return nil, fmt.Errorf("LinkByName %s: %w", ifname, err)
			}
			if err := h0.LinkSetNsFd(l, int(ns)); err != nil {
				return nil, fmt.Errorf("LinkSetNsFd: %w", err)
			}
			for _, n := range []string{"lo", ifname} {
				l, err := netlink.LinkByName(n)
				if err != nil {
					return nil, fmt.Errorf("laptop: LinkByName %s: %w", n, err)
				}
				if err := netlink.LinkSetUp(l); err != nil {
					return nil, fmt.Errorf("laptop: LinkSetUp %s: %w", n, err)
				}
			}
			ready()
			c, err := nclient4.New(ifname, nclient4.WithTimeout(5*time.Second), nclient4.WithRetry(12))
			if err != nil {
				return nil, fmt.Errorf("nclient4.New: %w", err)
			}
			defer c.Close()
			lease, err := c.Request(ctx)
			if err != nil {
				return nil, fmt.Errorf("DHCP: %w", err)
			}
			ip := lease.ACK.YourIPAddr
			mask := lease.ACK.SubnetMask()
			ones, _ := net.IPMask(mask).Size()
			l, _ = netlink.LinkByName(ifname)
			if err := netlink.AddrReplace(l, &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: mask}}); err != nil {
				return nil, fmt.Errorf("laptop: AddrReplace: %w", err)
			}
			logf("lease %s/%d on %s from %s", ip, ones, ifname, lease.ACK.ServerIdentifier())
			return net.Listen("tcp", net.JoinHostPort(ip.String(), "10401"))
		}()
		res <- result{ln, err}
		select {} // keep the thread (and its namespace) locked
	}()
	r := <-res
	return r.ln, r.err
}

// idle moves ifname into a network namespace of its own and brings it
// up: the host driver reads from the gadget as a real laptop's does, and
// nothing else happens there.
func idle(ifname string) error {
	res := make(chan error, 1)
	go func() {
		// As in laptop: the thread stays in the namespace.
		runtime.LockOSThread()
		res <- func() error {
			orig, err := netns.Get()
			if err != nil {
				return err
			}
			ns, err := netns.New()
			if err != nil {
				return fmt.Errorf("netns.New: %w", err)
			}
			h0, err := netlink.NewHandleAt(orig, unix.NETLINK_ROUTE)
			if err != nil {
				return err
			}
			defer h0.Close()
			l, err := h0.LinkByName(ifname)
			if err != nil {
				return fmt.Errorf("LinkByName %s: %w", ifname, err)
			}
			if err := h0.LinkSetNsFd(l, int(ns)); err != nil {
				return fmt.Errorf("LinkSetNsFd: %w", err)
			}
			if l, err = netlink.LinkByName(ifname); err != nil {
				return err
			}
			return netlink.LinkSetUp(l)
		}()
		select {}
	}()
	return <-res
}

// dump prints every finished recording under dir in base64, 76
// characters a line, between "file" and "end" lines.
func dump(dir string) error {
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".camwire" {
			return filepath.SkipDir // the receiver's journal, not a recording
		}
		if d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(w, "gadgetinit: file %s %d\n", rel, len(b))
		s := base64.StdEncoding.EncodeToString(b)
		for len(s) > 0 {
			n := min(len(s), 76)
			fmt.Fprintf(w, "b64 %s\n", s[:n])
			s = s[n:]
		}
		fmt.Fprintf(w, "gadgetinit: end %s\n", rel)
		return nil
	})
}
