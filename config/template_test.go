package config

import (
	"bytes"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const templatePath = "../boot/camwire.txt"

// TestTemplateGolden keeps boot/camwire.txt (embedded into the image)
// equal to what the key table renders. Run with -update after changing
// a key.
func TestTemplateGolden(t *testing.T) {
	want := Template()
	if *update {
		if err := os.WriteFile(templatePath, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from Template(); run go test ./config -run TestTemplateGolden -update\ngot:\n%s\nwant:\n%s", templatePath, got, want)
	}
}

// fieldKeys maps every Config field to the key that sets it. A new field
// without a key (and so without documentation in camwire.txt) fails.
var fieldKeys = map[string]string{
	"Name": "name", "Address": "address", "Gateway": "gateway", "Receiver": "receiver",
	"Interface": "interface", "DHCPServer": "dhcp_server", "USBGadget": "usb_gadget", "Source": "source", "Device": "device",
	"Width": "width", "Height": "height", "FPS": "fps", "Bitrate": "bitrate",
	"KeyframeInterval": "keyframe_interval", "Rotation": "rotation", "HFlip": "hflip", "VFlip": "vflip",
	"Segment": "segment", "Buffer": "buffer", "Exec": "exec", "Key": "key", "Modules": "modules",
	"Debug": "debug",
}

// notSettings are Config fields no key sets: facts of the machine that
// change defaults (Sources.Serial).
var notSettings = map[string]bool{"Serial": true}

// TestTemplateDocumentsEveryKey: every Config field has a key, every key
// is in the shipped camwire.txt as a commented-out line with its real
// default, and uncommenting them all changes nothing.
func TestTemplateDocumentsEveryKey(t *testing.T) {
	txt, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	typ := reflect.TypeOf(Config{})
	for i := range typ.NumField() {
		f := typ.Field(i).Name
		if notSettings[f] {
			continue
		}
		k, ok := fieldKeys[f]
		if !ok {
			t.Errorf("Config.%s has no key in fieldKeys", f)
			continue
		}
		if lookup(k) == nil {
			t.Errorf("Config.%s: key %q is not in the key table", f, k)
		}
	}
	if len(keys) != typ.NumField()-len(notSettings) {
		t.Errorf("%d keys for %d Config fields that are settings", len(keys), typ.NumField()-len(notSettings))
	}

	// The default in the template is the one Default() really has:
	// render Default() with String and compare line by line.
	wantLines := strings.Split(strings.TrimSpace(Default().String()), "\n")
	var uncommented []string
	for _, l := range strings.Split(string(txt), "\n") {
		if len(l) > 1 && l[0] == '#' && l[1] != ' ' && strings.Contains(l, "=") {
			uncommented = append(uncommented, l[1:])
		}
	}
	if diff := cmp.Diff(wantLines, uncommented); diff != "" {
		t.Errorf("commented-out settings in camwire.txt, want Default().String() (-want +got):\n%s", diff)
	}

	// The template as shipped changes nothing, and neither does removing
	// every '#' in front of a setting.
	for _, tc := range []struct{ name, text string }{
		{"as shipped", string(txt)},
		{"uncommented", strings.Join(uncommented, "\n")},
	} {
		c := Default()
		if probs := c.ApplyFile("camwire.txt", strings.NewReader(tc.text)); len(probs) != 0 {
			t.Errorf("%s: problems %q", tc.name, probs)
		}
		if diff := cmp.Diff(Default(), c, cmpNet); diff != "" {
			t.Errorf("%s: config, want defaults (-want +got):\n%s", tc.name, diff)
		}
	}
}
