package image_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestFlashRefuses runs scripts/flash.sh on things that are not a
// removable disk. Each must be refused before anything is written — the
// script's one job besides dd is not to overwrite the wrong disk.
func TestFlashRefuses(t *testing.T) {
	if _, err := exec.LookPath("lsblk"); err != nil {
		t.Skip("skipping: lsblk not installed (util-linux)")
	}
	script, err := filepath.Abs("../scripts/flash.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "camwire.img")
	os.WriteFile(img, []byte("image"), 0o644)
	victim := filepath.Join(dir, "victim")
	os.WriteFile(victim, []byte("precious"), 0o644)

	type tc struct {
		name string
		args []string
		want string
	}
	cases := []tc{
		{"no arguments", nil, "usage"},
		{"no image", []string{victim, filepath.Join(dir, "none.img")}, "no such image"},
		{"missing device", []string{filepath.Join(dir, "nodev"), img}, "no such device"},
		{"regular file", []string{victim, img}, "not a block device"},
		{"character device", []string{"/dev/null", img}, "not a block device"},
	}
	// The machine's own disks: whole non-removable disks and partitions.
	out, _ := exec.Command("lsblk", "-rno", "NAME,RM,TYPE").Output()
	var disk, part string
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		if _, err := os.Stat("/dev/" + f[0]); err != nil {
			continue
		}
		switch {
		case f[1] == "0" && f[2] == "disk" && disk == "":
			disk = "/dev/" + f[0]
		case f[2] == "part" && part == "":
			part = "/dev/" + f[0]
		}
	}
	if disk != "" {
		cases = append(cases, tc{"non-removable disk " + disk, []string{disk, img}, "not a removable disk"})
	} else {
		t.Log("no non-removable disk to try")
	}
	if part != "" {
		cases = append(cases, tc{"partition " + part, []string{part, img}, "not a whole disk"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd := exec.Command(script, c.args...)
			cmd.Stdin = strings.NewReader("yes\n") // would confirm, if it ever asked
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			stdout, err := cmd.Output()
			if err == nil {
				t.Fatalf("flash.sh %v succeeded; stdout %q", c.args, stdout)
			}
			if !strings.Contains(stderr.String(), c.want) {
				t.Errorf("flash.sh %v: stderr %q, want it to say %q", c.args, stderr.String(), c.want)
			}
			if strings.Contains(string(stdout), "About to ERASE") {
				t.Errorf("flash.sh %v got as far as asking: %q", c.args, stdout)
			}
		})
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Errorf("victim file now %q", b)
	}
}
