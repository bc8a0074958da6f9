package main

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/camwire/camwire/camconsole"
	"github.com/camwire/camwire/config"
	"github.com/camwire/camwire/internal/ffprobe"
	"github.com/camwire/camwire/internal/testkit"
)

// Several cameras flashed from one image (issue 8, item 10): three
// camwire-init processes, each in a network namespace of its own, on one
// bridge with a camwire-recv, none told its name. Two derive name and
// address from their serial numbers; the third is set to the first one's
// address, as a card copied with its camwire.txt would be, and its ARP
// probe must find the first one and take another address. All three
// record, each into its own folder, and the receiver gets their boot
// reports. Namespace names carry a random suffix: other engineers' tests
// run at the same time.

// netns is one named network namespace, deleted when the test ends.
//
// Commands enter it with nsenter --net rather than `ip -n` or `ip netns
// exec`: those also make a mount namespace and remount / as a slave,
// which fails where / is not a mount point (a chroot, as in
// ../shared/tools/fresh-machine: "mount --make-rslave /" failed: Invalid
// argument), and a network namespace needs none of it.
type netns string

func newNetns(t *testing.T, prefix, role string) netns {
	t.Helper()
	n := netns(prefix + role)
	ip(t, "", "netns", "add", string(n))
	t.Cleanup(func() { exec.Command("ip", "netns", "del", string(n)).Run() })
	ip(t, n, "link", "set", "lo", "up")
	return n
}

// enter is the command line that runs args inside ns ("": this one).
func (ns netns) enter(args ...string) []string {
	if ns == "" {
		return args
	}
	return append([]string{"nsenter", "--net=/run/netns/" + string(ns), "--"}, args...)
}

// ip runs ip(8) with args inside ns.
func ip(t *testing.T, ns netns, args ...string) string {
	t.Helper()
	argv := ns.enter(append([]string{"ip"}, args...)...)
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// proc is a process started in a namespace, its output watched.
type proc struct {
	*testkit.Proc
}

func startIn(t *testing.T, ns netns, name string, args ...string) *proc {
	t.Helper()
	bin := testkit.Build(t, testkit.Module+"/cmd/"+name)
	argv := ns.enter(append([]string{bin}, args...)...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := testkit.StartCmd(t, name+" in "+string(ns), cmd)
	// Cleanups run last first: this kill comes before testkit's SIGTERM.
	t.Cleanup(func() { cmd.Process.Signal(syscall.SIGKILL) })
	return &proc{p}
}

// stop ends p with SIGTERM (nsenter passes it on: it execs) and
// returns its summary line.
func (p *proc) stop(t *testing.T) camconsole.Summary {
	t.Helper()
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.WaitLine(t, camconsole.SummaryPrefix, 30*time.Second)
	sum, err := camconsole.FindSummary(p.Logs())
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func TestCamerasFromOneImage(t *testing.T) {
	needTool(t, "ffprobe")
	needTool(t, "ip")
	needTool(t, "nsenter")
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces (make test runs as root)")
	}
	var rnd [3]byte
	rand.Read(rnd[:])
	prefix := "cw" + hex.EncodeToString(rnd[:]) + "-"
	recvNS := newNetns(t, prefix, "recv")
	ip(t, recvNS, "link", "add", "br0", "type", "bridge")
	ip(t, recvNS, "addr", "add", "192.168.77.1/24", "dev", "br0")
	ip(t, recvNS, "link", "set", "br0", "up")

	type cam struct {
		role, serial, addr string // addr: -address, "" to derive it
		ns                 netns
		p                  *proc
	}
	cams := []*cam{
		{role: "a", serial: "00000000a1b2c3d4"},
		{role: "b", serial: "00000000e5f60718"},
		{role: "c", serial: "000000009abcdef0"},
	}
	cams[2].addr = config.SerialAddress(cams[0].serial).String()
	for _, c := range cams {
		c.ns = newNetns(t, prefix, c.role)
		port := "v" + c.role
		ip(t, recvNS, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", string(c.ns))
		ip(t, recvNS, "link", "set", port, "master", "br0", "up")
	}

	dir := t.TempDir()
	// The receiver's namespace is this test's own: the fixed port cannot
	// meet anyone else's listener.
	rp := startIn(t, recvNS, "camwire-recv", "-listen", "192.168.77.1:10401", "-dir", dir, "-diagnose-after", "0")
	rp.WaitLine(t, "time=", 10*time.Second)

	start := func(c *cam) {
		serial := filepath.Join(t.TempDir(), "serial-number")
		if err := os.WriteFile(serial, []byte(c.serial+"\x00"), 0o444); err != nil {
			t.Fatal(err)
		}
		args := []string{"-network", "-serial-number", serial, "-source", "testsrc",
			"-receiver", "192.168.77.1:10401", "-dhcp_server", "off", "-segment", "2s"}
		if c.addr != "" {
			args = append(args, "-address", c.addr)
		}
		c.p = startIn(t, c.ns, "camwire-init", args...)
	}
	// a and b boot together; c comes once a holds its address, so c's
	// probe meets a's kernel answering for it. a records before its own
	// probe has passed (the claim is optimistic), so its first ack is not
	// enough: c started then would probe for the address alongside a,
	// and RFC 5227 moves both.
	start(cams[0])
	start(cams[1])
	cams[0].p.WaitLine(t, camconsole.FirstAckedPrefix, 30*time.Second)
	aFree := "netcfg: " + config.SerialAddress(cams[0].serial).Addr().String() + " is free on eth0"
	cams[0].p.WaitFor(t, "camera a's probe to pass", 30*time.Second, func(log string) bool { return strings.Contains(log, aFree) })
	start(cams[2])
	conflict := cams[2].p.WaitLine(t, camconsole.ConflictPrefix, 30*time.Second)
	t.Logf("camera c: %s", conflict)
	if want := camconsole.ConflictPrefix + config.SerialAddress(cams[0].serial).Addr().String() + " is in use: "; !strings.HasPrefix(conflict, want) {
		t.Errorf("conflict line %q, want it to start %q", conflict, want)
	}
	for _, c := range cams {
		c.p.WaitLine(t, camconsole.FirstAckedPrefix, 30*time.Second)
	}
	time.Sleep(3 * time.Second) // the recordings' length, not synchronisation

	addrs := map[string]string{}
	for _, c := range cams {
		sum := c.p.stop(t)
		if sum.Acked != sum.Captured || sum.Dropped != 0 || sum.Captured < 60 {
			t.Errorf("camera %s: %s, want ≥ 60 frames, all acknowledged", c.role, sum.Format())
		}
		name := config.SerialName(c.serial)
		files := recordings(t, filepath.Join(dir, name))
		total := 0
		for _, f := range files {
			n, err := ffprobe.Frames(f)
			if err != nil {
				t.Error(err)
			}
			total += n
		}
		if uint64(total) != sum.Captured {
			t.Errorf("camera %s: folder %s holds %d frames in %d files, it captured %d", c.role, name, total, len(files), sum.Captured)
		}
		show := ip(t, c.ns, "-4", "-o", "addr", "show", "dev", "eth0")
		f := strings.Fields(show)
		for i, w := range f {
			if w == "inet" && i+1 < len(f) {
				addrs[c.role] = f[i+1]
			}
		}
		t.Logf("camera %s: %s at %s, %s", c.role, name, addrs[c.role], sum.Format())

		// Its boot report is in its folder; c's says it took another
		// address and why.
		reports, _ := filepath.Glob(filepath.Join(dir, name, ".camwire", "boot", "*.txt"))
		if len(reports) != 1 {
			t.Errorf("camera %s: boot reports %v, want one", c.role, reports)
			continue
		}
		b, _ := os.ReadFile(reports[0])
		summary, _, _ := strings.Cut(string(b), "\n")
		if got := strings.Contains(summary, "address conflict: "); got != (c.role == "c") {
			t.Errorf("camera %s: report summary %q: conflict named = %v, want %v", c.role, summary, got, c.role == "c")
		}
	}
	if a, b := addrs["a"], config.SerialAddress(cams[0].serial).String(); a != b {
		t.Errorf("camera a has %s, want its derived %s", a, b)
	}
	if a, b := addrs["b"], config.SerialAddress(cams[1].serial).String(); a != b {
		t.Errorf("camera b has %s, want its derived %s", a, b)
	}
	if addrs["c"] == addrs["a"] || addrs["c"] == "" || addrs["b"] == addrs["a"] {
		t.Errorf("addresses %v: want three different ones", addrs)
	}
	for _, c := range cams[:2] {
		if strings.Contains(c.p.Logs(), "address conflict") {
			t.Errorf("camera %s reports a conflict:\n%s", c.role, c.p.Logs())
		}
	}
}
