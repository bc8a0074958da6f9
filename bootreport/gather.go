package bootreport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Gatherer reads one report. The zero value reads the camera's own
// /proc, /sys and /dev; tests point the roots at fake trees.
type Gatherer struct {
	Proc, Sys, Dev string // roots; "" means /proc, /sys, /dev
	// InitFile is PID 1's Init (InitFile); "" reads none, and the report
	// says the recorder was not started by camwire's PID 1.
	InitFile string
	// InitWait bounds the wait for PID 1 to finish loading the drivers
	// (Init.Loading, see WaitInit) before the report is read, so the
	// modules that failed late are in it; 0 reads the file as it is.
	InitWait time.Duration
	// Kernel returns the kernel log, oldest line first; nil reads
	// /dev/kmsg (or syslog(2)) with KernelLog.
	Kernel func() ([]string, error)
	// Addrs returns the IP addresses of a network interface; nil means
	// none are listed (the report still has the link and its speed).
	Addrs func(ifname string) []string

	Name     string   // camera name
	Version  string   // camwire's version; "" means Version()
	Problems []string // camwire.txt and command line problems
	Notes    []string // more lines for the settings section (e.g. where the name came from)
	// Video is the V4L2 device the settings name (e.g. /dev/video0); ""
	// looks for none. Paths under /dev are looked up under Dev.
	Video string
	// VideoUsed says the source is that camera: only then is a missing
	// device a problem in the summary (with testsrc or exec the report
	// still says whether the board has a camera).
	VideoUsed bool
}

func (g Gatherer) root(p, def string) string {
	if p == "" {
		return def
	}
	return p
}

func (g Gatherer) proc(p ...string) string {
	return filepath.Join(append([]string{g.root(g.Proc, "/proc")}, p...)...)
}

func (g Gatherer) sys(p ...string) string {
	return filepath.Join(append([]string{g.root(g.Sys, "/sys")}, p...)...)
}

// devPath maps a /dev path onto Dev.
func (g Gatherer) devPath(p string) string {
	if rest, ok := strings.CutPrefix(p, "/dev/"); ok {
		return filepath.Join(g.root(g.Dev, "/dev"), rest)
	}
	return p
}

// Report is one gathered report. Text renders it.
type Report struct {
	Name, Version string
	Model         string // device tree model, e.g. "Raspberry Pi 3 Model B Rev 1.2"
	Revision      string // board revision code from the firmware, hex; "" if none
	Serial        string // SoC serial number; "" if none
	Compatible    []string
	Kernel        string // release and build, from /proc/version
	Uptime        string

	Init    *Init  // nil when PID 1 left none
	InitErr string // why there is none
	Loaded  []string
	Unbound []string // devices with a modalias and no driver (sysfs walk)

	Boot   string // /boot as /proc/mounts has it, or "not mounted"
	BootOK bool

	Problems []string
	Notes    []string

	Video       string // device looked for; "" for none
	VideoUsed   bool   // the source is that device
	VideoOK     bool
	VideoReason string   // CameraReason when !VideoOK
	CameraLog   []string // the kernel's camera/vchiq lines

	Links    []Link
	Temp     string // "48.3 °C (cpu-thermal, thermal_zone0)" or "unknown: …"
	Throttle string // flags with where they were read, or "unknown: why"
	Voltage  []string
}

// Link is one network interface.
type Link struct {
	Name, State, Speed, Duplex, MAC string
	Addrs                           []string
}

// Gather reads everything; it never fails: what cannot be read is
// reported as such.
func (g Gatherer) Gather() Report {
	r := Report{Name: g.Name, Version: g.Version, Problems: g.Problems, Notes: g.Notes, Video: g.Video, VideoUsed: g.VideoUsed}
	if r.Version == "" {
		r.Version = Version()
	}
	dt := g.proc("device-tree")
	r.Model = readString(filepath.Join(dt, "model"))
	r.Serial = readString(filepath.Join(dt, "serial-number"))
	if b, err := os.ReadFile(filepath.Join(dt, "system", "linux,revision")); err == nil && len(b) == 4 {
		r.Revision = fmt.Sprintf("%06x", binary.BigEndian.Uint32(b))
	}
	if b, err := os.ReadFile(filepath.Join(dt, "compatible")); err == nil {
		r.Compatible = strings.FieldsFunc(string(b), func(c rune) bool { return c == 0 })
	}
	r.Kernel = readString(g.proc("version"))
	if up := strings.Fields(readString(g.proc("uptime"))); len(up) > 0 {
		r.Uptime = up[0] + " s"
	}

	if g.InitFile == "" {
		r.InitErr = "not started by camwire's PID 1"
	} else if in, err := WaitInit(g.InitFile, g.InitWait); err != nil {
		r.InitErr = err.Error()
	} else {
		r.Init = &in
	}
	r.Loaded = g.modules()
	r.Unbound = g.unbound()
	r.Boot, r.BootOK = g.bootMount()

	var klog []string
	var klogErr error
	if g.Kernel != nil {
		klog, klogErr = g.Kernel()
	} else {
		klog, klogErr = KernelLog(g.devPath("/dev/kmsg"))
	}
	r.CameraLog = CameraLines(klog)
	r.Voltage = matching(klog, "voltage")
	if g.Video != "" {
		if _, err := os.Stat(g.devPath(g.Video)); err == nil {
			r.VideoOK = true
		} else {
			r.VideoReason = CameraReason(g.Video, klog, klogErr, r.Loaded)
		}
	}
	r.Links = g.links()
	r.Temp = g.temperature()
	r.Throttle = g.throttle()
	return r
}

// modules lists /proc/modules by name.
func (g Gatherer) modules() []string {
	b, err := os.ReadFile(g.proc("modules"))
	if err != nil {
		return nil
	}
	var names []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			names = append(names, f[0])
		}
	}
	slices.Sort(names)
	return names
}

// unbound lists devices that have a modalias but no driver: hardware the
// kernel knows of and nothing drives. Device-tree platform devices that
// never get a driver (simple buses, firmware nodes) show up too, which
// is why it is a list to read, not a problem to count.
func (g Gatherer) unbound() []string {
	var out []string
	buses, _ := os.ReadDir(g.sys("bus"))
	for _, bus := range buses {
		devs, _ := os.ReadDir(g.sys("bus", bus.Name(), "devices"))
		for _, d := range devs {
			dir := g.sys("bus", bus.Name(), "devices", d.Name())
			alias := readString(filepath.Join(dir, "modalias"))
			if alias == "" {
				continue
			}
			if _, err := os.Lstat(filepath.Join(dir, "driver")); err == nil {
				continue
			}
			out = append(out, fmt.Sprintf("%s/%s (%s)", bus.Name(), d.Name(), alias))
		}
	}
	slices.Sort(out)
	return out
}

// bootMount finds /boot in /proc/mounts.
func (g Gatherer) bootMount() (string, bool) {
	b, err := os.ReadFile(g.proc("mounts"))
	if err != nil {
		return "unknown: " + err.Error(), false
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) >= 4 && f[1] == "/boot" {
			return fmt.Sprintf("%s on /boot (%s, %s)", f[0], f[2], f[3]), true
		}
	}
	return "not mounted", false
}

// links reads every network interface but loopback from sysfs.
func (g Gatherer) links() []Link {
	ents, _ := os.ReadDir(g.sys("class", "net"))
	var out []Link
	for _, e := range ents {
		if e.Name() == "lo" {
			continue
		}
		dir := g.sys("class", "net", e.Name())
		l := Link{Name: e.Name(), State: linkState(readString(filepath.Join(dir, "operstate")), readString(filepath.Join(dir, "carrier"))),
			MAC: readString(filepath.Join(dir, "address")), Duplex: readString(filepath.Join(dir, "duplex"))}
		// speed reads as an error (EINVAL) while the link is down, and
		// as -1 or nothing on links that do not know it.
		switch s := readString(filepath.Join(dir, "speed")); {
		case s == "" || s == "-1" || strings.HasPrefix(s, "4294967295"):
			l.Speed = "unknown"
		default:
			l.Speed = s + " Mbit/s"
		}
		if g.Addrs != nil {
			l.Addrs = g.Addrs(e.Name())
		}
		out = append(out, l)
	}
	return out
}

// linkState is a link's state from its sysfs operstate and carrier.
//
// The carrier file reads 1 only while the interface is up and has a
// carrier, and packets flow from that moment. operstate follows later:
// the kernel's linkwatch work sets it, rate-limited to once a second,
// so just after the link is set up it can still read "down" while the
// receiver is already reached over it (QEMU virt's virtio_net at
// 2.6 s uptime did). Drivers without link state (USB network adapters
// such as cdc_ether, QEMU's usb-net) leave operstate "unknown" for
// good. In both cases the carrier says the link is there.
func linkState(operstate, carrier string) string {
	if carrier == "1" && (operstate == "down" || operstate == "unknown") {
		return "up"
	}
	return operstate
}

// temperature reads the first thermal zone.
func (g Gatherer) temperature() string {
	zones, _ := filepath.Glob(g.sys("class", "thermal", "thermal_zone*"))
	for _, z := range zones {
		t := readString(filepath.Join(z, "temp"))
		mc, err := strconv.Atoi(t)
		if err != nil {
			continue
		}
		return fmt.Sprintf("%.1f °C (%s, %s)", float64(mc)/1000, readString(filepath.Join(z, "type")), filepath.Base(z))
	}
	return "unknown: no thermal zone in /sys/class/thermal (bcm2835_thermal not loaded, or a board without one)"
}

// throttle reads what the firmware says about power and throttling.
//
// The firmware's get_throttled flags (under-voltage, frequency capped,
// throttled, soft temperature limit; now and since boot) come from its
// mailbox. Raspberry Pi OS's kernel offers the mailbox to user space as
// /dev/vcio; Debian's upstream kernel does not. There the one flag that
// reaches user space is under-voltage, which raspberrypi-hwmon polls
// from the firmware and shows as in0_lcrit_alarm of the hwmon named
// "rpi_volt".
func (g Gatherer) throttle() string {
	hw, _ := filepath.Glob(g.sys("class", "hwmon", "hwmon*"))
	for _, h := range hw {
		if readString(filepath.Join(h, "name")) != "rpi_volt" {
			continue
		}
		p := filepath.Join(h, "in0_lcrit_alarm")
		v := readString(p)
		if v == "" {
			continue
		}
		now := "no"
		if v != "0" {
			now = "YES"
		}
		return fmt.Sprintf("under-voltage now: %s (%s, from the firmware via raspberrypi-hwmon); "+
			"the other throttling flags: unknown (they need the firmware mailbox, /dev/vcio, which this kernel does not offer)",
			now, strings.TrimPrefix(p, g.root(g.Sys, "/sys")+"/"))
	}
	why := "no rpi_volt hwmon in /sys/class/hwmon (raspberrypi-hwmon not loaded, or not a Raspberry Pi)"
	if _, err := os.Stat(g.devPath("/dev/vcio")); err == nil {
		why = "/dev/vcio exists but camwire does not query the mailbox; " + why
	} else if errors.Is(err, fs.ErrNotExist) {
		why += "; no /dev/vcio (the firmware mailbox; Debian's upstream kernel does not offer it)"
	}
	return "unknown: " + why
}

// matching returns the lines that contain sub (case-insensitive).
func matching(lines []string, sub string) []string {
	var out []string
	for _, l := range lines {
		if strings.Contains(strings.ToLower(l), sub) {
			out = append(out, l)
		}
	}
	return out
}

// MissingVideo names why g.Video is not there (CameraReason, from the
// kernel log and the loaded modules), and returns "" when it is there.
func (g Gatherer) MissingVideo() string {
	if g.Video == "" {
		return ""
	}
	if _, err := os.Stat(g.devPath(g.Video)); err == nil {
		return ""
	}
	var klog []string
	var err error
	if g.Kernel != nil {
		klog, err = g.Kernel()
	} else {
		klog, err = KernelLog(g.devPath("/dev/kmsg"))
	}
	return CameraReason(g.Video, klog, err, g.modules())
}
