package recv

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/camwire/camwire/recv/recvtest"
	"github.com/camwire/camwire/wire"
)

// connect dials the receiver from local (a loopback address; "" for
// any), says hello as name with stream id and waits for the Welcome.
func connect(t *testing.T, addr, local, name string, id byte) *recvtest.Camera {
	t.Helper()
	cam, err := recvtest.DialFrom(local, addr, wire.Hello{Name: name, StreamID: [16]byte{id}, Codec: "h264", FPSNum: 30, FPSDen: 1}, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cam.Close() })
	return cam
}

func TestBootReportStored(t *testing.T) {
	dir := t.TempDir()
	reports := make(chan [3]string, 2)
	ts := startServer(t, dir, func(s *Server) {
		s.OnReport = func(camera, path, text string) { reports <- [3]string{camera, path, text} }
	})
	cam := connect(t, ts.addr, "", "garden", 1)
	if cam.Challenge.Minor != wire.Minor {
		t.Errorf("Challenge.Minor = %d, want %d: a 1.1 sender would not send its report", cam.Challenge.Minor, wire.Minor)
	}
	text := "camwire boot report: garden on Raspberry Pi 3 Model B Rev 1.2: no /dev/video0\nboard: …\n"
	for range 2 { // the second, in the same second, must not overwrite the first
		if err := cam.Send(wire.BootReport{Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	var stored []string
	for range 2 {
		r, err := cam.Next(10 * time.Second)
		if err != nil {
			t.Fatalf("waiting for report-stored: %v", err)
		}
		rs, ok := r.(wire.ReportStored)
		if !ok {
			t.Fatalf("got %s, want report-stored", r.Type())
		}
		stored = append(stored, rs.File)
		got := <-reports
		if got[0] != "garden" || got[2] != text || got[1] != filepath.Join(dir, filepath.FromSlash(rs.File)) {
			t.Errorf("OnReport(%q, %q, %q), want garden, the stored path, the text", got[0], got[1], got[2])
		}
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rs.File)))
		if err != nil || string(b) != text {
			t.Errorf("stored report %s = %q, %v; want the text sent", rs.File, b, err)
		}
	}
	name := regexp.MustCompile(`^garden/\.camwire/boot/\d{8}T\d{6}Z(-2)?\.txt$`)
	if !name.MatchString(stored[0]) || !name.MatchString(stored[1]) || stored[0] == stored[1] {
		t.Errorf("stored as %q, want two files garden/.camwire/boot/<UTC time>.txt", stored)
	}
	if want := "boot report: camwire boot report: garden on Raspberry Pi 3 Model B Rev 1.2: no /dev/video0"; !strings.Contains(ts.logs.String(), want) {
		t.Errorf("log lacks the one-line summary %q:\n%s", want, ts.logs)
	}
}

func TestFirstLine(t *testing.T) {
	for in, want := range map[string]string{"a b\nc": "a b", "only": "only", "": "", " x \r\ny": "x"} {
		if got := FirstLine(in); got != want {
			t.Errorf("FirstLine(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSameNameTwoCameras: two cameras from one image both say "camwire"
// from different hosts. The second records into a folder of its own,
// one warning names both peers, and a reconnect of the second (same
// stream) goes back to its folder, while a camera that reboots on the
// first one's host (new stream, same host) is the same camera.
func TestSameNameTwoCameras(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir, nil)
	first := connect(t, ts.addr, "127.0.0.1", "camwire", 1)
	second := connect(t, ts.addr, "127.0.0.2", "camwire", 2)
	for _, c := range []*recvtest.Camera{first, second} {
		if err := c.Send(wire.BootReport{Text: "report\n"}); err != nil {
			t.Fatal(err)
		}
	}
	folders := func(c *recvtest.Camera) string {
		r, err := c.Next(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return strings.SplitN(r.(wire.ReportStored).File, "/", 2)[0]
	}
	if diff := cmp.Diff([]string{"camwire", "camwire-127.0.0.2"}, []string{folders(first), folders(second)}); diff != "" {
		t.Errorf("folders (-want +got):\n%s", diff)
	}
	third := connect(t, ts.addr, "127.0.0.3", "camwire", 3) // a third camera: warned about too
	second.Close()
	again := connect(t, ts.addr, "127.0.0.2", "camwire", 2) // the second reconnects: same stream
	reboot := connect(t, ts.addr, "127.0.0.1", "camwire", 4)
	for _, c := range []*recvtest.Camera{third, again, reboot} {
		c.Send(wire.BootReport{Text: "report\n"})
	}
	if diff := cmp.Diff([]string{"camwire-127.0.0.3", "camwire-127.0.0.2", "camwire"}, []string{folders(third), folders(again), folders(reboot)}); diff != "" {
		t.Errorf("folders after reconnects (-want +got):\n%s", diff)
	}
	logs := ts.logs.String()
	warn := regexp.MustCompile(`two cameras claim the name \\"camwire\\": 127\.0\.0\.1:\d+ and 127\.0\.0\.2:\d+; the second records into folder camwire-127\.0\.0\.2`)
	if n := len(warn.FindAllString(logs, -1)); n != 1 {
		t.Errorf("%d warnings naming both peers, want exactly 1:\n%s", n, logs)
	}
	if !strings.Contains(logs, "folder camwire-127.0.0.3") {
		t.Errorf("no warning about the third camera:\n%s", logs)
	}
}
