package image

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"text/template"

	"github.com/camwire/camwire/boot"
	"github.com/camwire/camwire/image/bootpkg"
)

// File names on the boot partition. The kernel keeps Debian's name so the
// card shows which kernel it runs.
const (
	InitramfsName = "camwire.cpio.gz"
	SettingsName  = "camwire.txt"
)

// Firmware files the GPU loads: bootcode.bin (Pi 3 and older), and the
// camera-capable start_x/start4x firmware with their matching fixups.
var firmwareFiles = []string{"bootcode.bin", "start_x.elf", "fixup_x.dat", "start4x.elf", "fixup4x.dat"}

// DTBs for the Pis with the camera connector and Ethernet that Debian's
// kernel supports; with upstream_kernel=1 the firmware picks one by name.
var dtbFiles = []string{
	"bcm2837-rpi-3-b.dtb", "bcm2837-rpi-3-b-plus.dtb", "bcm2837-rpi-3-a-plus.dtb",
	"bcm2837-rpi-zero-2-w.dtb", "bcm2711-rpi-4-b.dtb", "bcm2711-rpi-400.dtb", "bcm2711-rpi-cm4-io.dtb",
}

// ConfigTxt is what config.txt is rendered from.
type ConfigTxt struct {
	Kernel    string // file name of the kernel on the boot partition
	Initramfs string // file name of the initramfs
	GPUMem    int    // MiB for the GPU; the camera's encoder needs ≥128
}

// CmdlineTxt is what cmdline.txt is rendered from. Its consoles are
// those of Debian's kernel with the upstream device trees, as Debian's
// raspi-firmware writes them (etc/kernel/postinst.d/z50-raspi-firmware):
// console=ttyS1,115200 is the Pi 3/4 header UART (the downstream alias
// serial0 resolves to nothing there), and console=tty1 the HDMI screen,
// last so that it is /dev/console. The QEMU tests replace console= with
// their boards' ttyAMA0.
type CmdlineTxt struct {
	// Extra kernel arguments appended after the defaults, e.g.
	// "camwire.debug=1".
	Extra []string
}

func render(name string, data any) ([]byte, error) {
	src, err := boot.Files.ReadFile(name)
	if err != nil {
		return nil, err
	}
	t, err := template.New(name).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("boot/%s: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("boot/%s: %w", name, err)
	}
	return b.Bytes(), nil
}

// RenderConfig renders boot/config.txt.
func RenderConfig(c ConfigTxt) ([]byte, error) { return render("config.txt", c) }

// RenderCmdline renders boot/cmdline.txt: one line, as the firmware
// reads only the first.
func RenderCmdline(c CmdlineTxt) ([]byte, error) {
	for _, a := range c.Extra {
		if a == "" || strings.ContainsAny(a, " \t\n") {
			return nil, fmt.Errorf("cmdline.txt: argument %q is empty or has white space", a)
		}
	}
	b, err := render("cmdline.txt", c)
	if err != nil {
		return nil, err
	}
	return append(bytes.TrimRight(b, "\n"), '\n'), nil
}

// DefaultSettings is boot/camwire.txt as shipped: every setting commented
// with its default.
func DefaultSettings() ([]byte, error) {
	b, err := boot.Files.ReadFile(SettingsName)
	if err != nil {
		return nil, fmt.Errorf("boot/%s: %w", SettingsName, err)
	}
	return b, nil
}

// settingLine matches "key=value" and its commented default "#key=value"
// (also with ':' instead of '=').
func settingLine(key string) *regexp.Regexp {
	return regexp.MustCompile(`^#?[ \t]*` + regexp.QuoteMeta(key) + `[ \t]*[=:]`)
}

// SetSettings returns camwire.txt with each key set: the first line that
// sets or shows the commented default of the key becomes "key=value",
// so the user sees it next to its explanation; a key the file does not
// mention is appended.
func SetSettings(txt []byte, values map[string]string) ([]byte, error) {
	lines := strings.Split(string(txt), "\n")
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := values[k]
		if !regexp.MustCompile(`^[A-Za-z0-9_.-]+$`).MatchString(k) {
			return nil, fmt.Errorf("camwire.txt: bad setting name %q", k)
		}
		if strings.ContainsAny(v, "\n\r") {
			return nil, fmt.Errorf("camwire.txt: value of %s has a line break", k)
		}
		re := settingLine(k)
		done := false
		for i, l := range lines {
			if re.MatchString(strings.TrimSpace(l)) {
				lines[i] = k + "=" + v
				done = true
				break
			}
		}
		if !done {
			if n := len(lines); n > 0 && lines[n-1] == "" {
				lines = append(lines[:n-1], k+"="+v, "")
			} else {
				lines = append(lines, k+"="+v)
			}
		}
	}
	return []byte(strings.Join(lines, "\n")), nil
}

// BootOptions are the choices a build makes for the boot partition.
type BootOptions struct {
	// Settings are camwire.txt values to set (name → value).
	Settings map[string]string
	// Cmdline are extra kernel arguments.
	Cmdline []string
	// GPUMem in MiB; zero means 128.
	GPUMem int
}

// BootFiles returns every file of the boot partition, by name.
func BootFiles(p bootpkg.Parts, initramfs []byte, o BootOptions) (map[string][]byte, error) {
	files := map[string][]byte{}
	read := func(name, path string) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("boot partition: %w", err)
		}
		files[name] = b
		return nil
	}
	kernelName := "vmlinuz-" + p.KernelVersion
	if err := read(kernelName, p.Kernel()); err != nil {
		return nil, err
	}
	padded, err := PadKernel(files[kernelName])
	if err != nil {
		return nil, fmt.Errorf("boot partition: %s: %w", p.Kernel(), err)
	}
	files[kernelName] = padded
	for _, f := range firmwareFiles {
		if err := read(f, p.Firmware(f)); err != nil {
			return nil, err
		}
	}
	for _, f := range dtbFiles {
		if err := read(f, p.DTB(f)); err != nil {
			return nil, err
		}
	}
	files[InitramfsName] = initramfs
	gpu := o.GPUMem
	if gpu == 0 {
		gpu = 128
	}
	if files["config.txt"], err = RenderConfig(ConfigTxt{Kernel: kernelName, Initramfs: InitramfsName, GPUMem: gpu}); err != nil {
		return nil, err
	}
	if files["cmdline.txt"], err = RenderCmdline(CmdlineTxt{Extra: o.Cmdline}); err != nil {
		return nil, err
	}
	settings, err := DefaultSettings()
	if err != nil {
		return nil, err
	}
	if files[SettingsName], err = SetSettings(settings, o.Settings); err != nil {
		return nil, err
	}
	return files, nil
}
