package rtsp

import (
	"strings"
	"testing"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
)

// TestKey: with Key set, DESCRIBE without credentials or with a wrong
// password is refused; with user camwire and the key it is answered.
func TestKey(t *testing.T) {
	ready := make(chan string, 1)
	s := &Server{Addr: "127.0.0.1:0", Key: []byte("s3cret"), OnReady: func(_, url string) { ready <- url }}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	c := newCam(t, "garden")
	s.Frame(c.hello.Name, c.hello, c.frame(0))
	url := recv(t, ready, "camera served")
	host := strings.TrimPrefix(url, "rtsp://")
	describe := func(userinfo string) error {
		u, err := base.ParseURL("rtsp://" + userinfo + host)
		if err != nil {
			t.Fatal(err)
		}
		cl := gortsplib.Client{Scheme: u.Scheme, Host: u.Host}
		if err := cl.Start(); err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		_, _, err = cl.Describe(u)
		return err
	}
	for _, ui := range []string{"", "camwire:wrong@", "someone:s3cret@"} {
		if err := describe(ui); err == nil {
			t.Errorf("DESCRIBE as %q succeeded without the key", ui)
		}
	}
	if err := describe("camwire:s3cret@"); err != nil {
		t.Errorf("DESCRIBE with the key: %v", err)
	}
}
