package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/camwire/camwire/config"
	"github.com/camwire/camwire/image"
	"github.com/camwire/camwire/image/imagetest"
)

// TestMainBuild runs what `make image NAME=… ADDRESS=… RECEIVER=…` runs:
// camwire-image's command line, with empty values for the settings the
// user left out. The settings must land in camwire.txt on the card and
// the output must say where the image is and what to do next.
func TestMainBuild(t *testing.T) {
	imagetest.Parts(t)
	dir := t.TempDir()
	initPath := filepath.Join(dir, "camwire-init")
	if err := os.WriteFile(initPath, imagetest.Init(t, "github.com/camwire/camwire/image/testdata/testinit"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out", "camwire.img")
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"-init", initPath, "-o", out,
		"-set", "name=garden", "-set", "address=10.9.8.7/16", "-set", "receiver=", "-set", "source=", "build"}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("camwire-image build: %v\n%s", err, stderr.String())
	}
	for _, want := range []string{out, "name=garden", "address=10.9.8.7/16", "receiver=192.168.77.1:10401",
		"scripts/flash.sh /dev/sdX " + out, "Use custom", "camwire-recv",
		// The default receiver is off the camera's 10.9.0.0/16 and no
		// gateway is set: the output says what to change.
		"problem: receiver 192.168.77.1 is not on the camera's network 10.9.0.0/16", "set receiver=", "or gateway="} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	if strings.Contains(stdout.String(), "192.168.77.1/16") {
		t.Errorf("output tells the laptop to take 192.168.77.1/16, which the camera at 10.9.8.7/16 cannot reach:\n%s", stdout.String())
	}
	txt, err := image.ReadDiskFile(out, image.SettingsName)
	if err != nil {
		t.Fatal(err)
	}
	c := config.Default()
	if probs := c.ApplyFile(image.SettingsName, bytes.NewReader(txt)); len(probs) > 0 ||
		c.Name != "garden" || c.Address.String() != "10.9.8.7/16" || c.Receiver != "192.168.77.1:10401" {
		t.Errorf("camwire.txt on the card: name %q address %v receiver %q problems %v; want garden, 10.9.8.7/16 and the default receiver",
			c.Name, c.Address, c.Receiver, probs)
	}
	if strings.Contains(string(txt), "\nreceiver=") {
		t.Error("camwire.txt sets receiver=, but -set receiver= (empty) must leave the commented default")
	}
	if _, err := os.Stat(out + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("%s.tmp left behind: %v", out, err)
	}
}

func TestMainBuildErrors(t *testing.T) {
	dir := t.TempDir()
	initPath := filepath.Join(dir, "camwire-init")
	os.WriteFile(initPath, []byte("x"), 0o755)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no init", []string{"-init", filepath.Join(dir, "none"), "build"}, "make init"},
		{"bad set", []string{"-init", initPath, "-set", "name", "build"}, "key=value"},
		{"no command", []string{"-init", initPath}, "unknown command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"-o", filepath.Join(dir, "x.img")}, tc.args...), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run(%q) = %v, want an error mentioning %q", tc.args, err, tc.want)
			}
			if _, serr := os.Stat(filepath.Join(dir, "x.img")); serr == nil {
				t.Errorf("run(%q) wrote an image", tc.args)
			}
		})
	}
}
