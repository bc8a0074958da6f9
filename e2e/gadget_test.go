package e2e

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/camwire/camwire/camconsole"
	"github.com/camwire/camwire/image"
	"github.com/camwire/camwire/image/imagetest"
	"github.com/camwire/camwire/internal/qemu"
)

// TestVirtGadget: one cable, on the image's own kernel and modules. In
// a QEMU virt guest, dummy_hcd is the USB cable: camwire's gadget code
// (pid1.SetupGadget, as the usb-gadget boot step runs it) builds the
// configfs gadget, binds it and joins RNDIS's usb0 and NCM's usb1 in
// the bridge camwire0, where netcfg puts the camera's address and DHCP
// server. The kernel's host side enumerates the gadget and binds both
// network functions, as a Linux laptop does (cdc_ncm and rndis_host);
// the guest's driver (testdata/gadgetinit) uses one of them as the
// laptop: a real DHCP client in a network namespace of its own leases
// the receiver address from camwire's server, and camwire-recv's server
// records the test picture over that function. Once through NCM, once
// through RNDIS: every frame captured is in a file that decodes.
//
// Not covered: Windows' and macOS's own drivers (rndis_host is Linux's
// RNDIS driver, not Windows'), and replug (dummy_hcd does not
// re-enumerate a rebound gadget: error -71; see package gadget's tests).
func TestVirtGadget(t *testing.T) {
	imagetest.Require(t, lookPath("ffprobe"))
	b := buildImage(t, imagetest.Init(t, "github.com/camwire/camwire/e2e/testdata/gadgetinit"), image.BootOptions{})
	for _, via := range []string{"cdc_ncm", "rndis_host"} {
		t.Run(via, func(t *testing.T) { gadgetRecord(t, b, via) })
	}
}

// gadgetRecord boots the gadget guest with the laptop on the host
// driver via and checks its lease and recording.
func gadgetRecord(t *testing.T, b board, via string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	m := start(t, ctx, qemu.Config{Board: qemu.Virt, Kernel: b.Kernel, Initrd: b.Initrd,
		Append: strings.Join([]string{"console=ttyAMA0 rdinit=/init panic=-1 quiet",
			"camwire.name=gadget", "camwire.source=testsrc", "camwire.segment=2s",
			"camwire.dhcp_server=on", "camwire.usb_gadget=on", "gadgetinit.files=3",
			"gadgetinit.via=" + via}, " ")})
	var cur qemu.Cursor
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`gadgetinit: usb gadget rndis\+ncm\+acm on dummy_udc\.0`),
		regexp.MustCompile(`gadgetinit: usb gadget: bridge camwire0 `),
		regexp.MustCompile(`gadgetinit: network on camwire0$`),
		regexp.MustCompile(`gadgetinit: laptop uses \S+ \(` + regexp.QuoteMeta(via) + `\)$`),
		regexp.MustCompile(`gadgetinit: lease 192\.168\.77\.1/24 on \S+ from 192\.168\.77\.2$`),
		camconsole.SummaryRE,
	} {
		l, err := m.WaitFor(ctx, &cur, re)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s", l.Text)
	}
	var sum camconsole.Summary
	for _, l := range m.Lines() {
		if s, err := camconsole.ParseSummary(l.Text); err == nil {
			sum = s
		}
	}
	if _, err := m.WaitFor(ctx, &cur, regexp.MustCompile(`^gadgetinit: done$`)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeDumped(t, m.Lines(), dir)
	files, frames := recordedFrames(t, dir)
	checkFrames(t, sum, files, frames, 3)
}

// writeDumped writes the files gadgetinit printed in base64 into dir.
func writeDumped(t *testing.T, lines []qemu.Line, dir string) {
	t.Helper()
	var name string
	var b64 strings.Builder
	for _, l := range lines {
		switch text := l.Text; {
		case strings.HasPrefix(text, "gadgetinit: file "):
			name = strings.Fields(text)[2]
			b64.Reset()
		case strings.HasPrefix(text, "b64 ") && name != "":
			b64.WriteString(strings.TrimPrefix(text, "b64 "))
		case strings.HasPrefix(text, "gadgetinit: end "):
			data, err := base64.StdEncoding.DecodeString(b64.String())
			if err != nil {
				t.Fatalf("%s as printed by the guest: %v", name, err)
			}
			p := filepath.Join(dir, name)
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			name = ""
		}
	}
}
