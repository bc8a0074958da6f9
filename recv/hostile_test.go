package recv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camwire/camwire/recv/recvtest"
	"github.com/camwire/camwire/wire"
)

// handshake returns the bytes of a valid preamble, hello and empty auth.
func handshake(name string) []byte {
	return recvtest.Handshake(wire.Hello{Name: name, StreamID: [16]byte{9, 9}, Codec: "h264"})
}

// helloRecord builds a hello record by hand, so names ValidName refuses
// (and that the encoder would never produce) reach the receiver.
func helloRecord(name string) []byte {
	body := []byte{byte(len(name))}
	body = append(body, name...)
	body = append(body, make([]byte, 16)...)
	body = append(body, 4, 'h', '2', '6', '4', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	b := []byte{byte(wire.TypeHello), 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(len(body)))
	return append(b, body...)
}

// TestHostile throws bad peers at one receiver while a good camera
// records through it: each bad connection is closed with a logged reason
// (and a Reject the sender can show where one applies), nothing is
// created outside Dir, the process stays up, and the good camera's files
// are complete.
func TestHostile(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir, func(s *Server) {
		s.HandshakeTimeout = 300 * time.Millisecond
		s.IdleTimeout = 400 * time.Millisecond
		s.Limits = wire.Limits{MaxFrame: 1 << 20}
	})

	good := recvtest.Script("good", 11, 3, 200, 4000, false, false)
	goodDone := make(chan error, 1)
	go func() {
		// A camera that sends in small bursts, so it is mid-stream while
		// the hostile peers come and go.
		_, err := good.Run(&recvtest.PacedConn{Conn: ts.dial(t), Every: 8 << 10, Pause: 10 * time.Millisecond}, 30*time.Second)
		goodDone <- err
	}()

	long := strings.Repeat("a", 255)
	tests := []struct {
		name       string
		send       []byte
		trickle    bool   // after the preamble or handshake, one byte every 50ms
		keepOpen   bool   // do not close our side after sending
		wantReject string // substring of the Reject reason, "" for none
		wantLog    string // substring of the receiver log
	}{
		{"garbage after preamble", append(wire.AppendPreamble(nil), 0x42, 0, 0, 0, 0, 1, 2, 3), false, true, "unknown record type", "unknown record type"},
		{"truncated hello", append(wire.AppendPreamble(nil), helloRecord("cut")[:9]...), false, false, "", "unexpected EOF"},
		{"4 KB hello", append(wire.AppendPreamble(nil), append([]byte{byte(wire.TypeHello), 0, 0, 0x10, 0x04}, make([]byte, 4100)...)...), false, true, "too large", "too large"},
		{"name ../x", append(wire.AppendPreamble(nil), helloRecord("../x")...), false, true, "bad camera name", "bad camera name"},
		{"name /etc/passwd", append(wire.AppendPreamble(nil), helloRecord("/etc/passwd")...), false, true, "bad camera name", "/etc/passwd"},
		{"name CON", append(wire.AppendPreamble(nil), helloRecord("CON")...), false, true, "Windows device name", "Windows device name"},
		{"name of 255 bytes", append(wire.AppendPreamble(nil), helloRecord(long)...), false, true, "bad camera name", "at most 63"},
		{"unknown major version", append(append([]byte(wire.Magic), 2, 0), helloRecord("future")...), false, true, "speaking 2.0", "cannot talk to a camera speaking 2.0"},
		{"slowloris handshake", append(wire.AppendPreamble(nil), helloRecord("slow")...), true, true, "", "handshake timeout"},
		{"silent", nil, false, true, "", "before sending anything"},
		{"oversize frame", append(handshake("big"), byte(wire.TypeFrame), 0x00, 0x90, 0, 0), false, true, "", "too large"},
		{"slowloris frame", append(handshake("slowframe"), wire.Append(nil, wire.Frame{Seq: 1, Key: true, Payload: make([]byte, 100)})...), true, true, "", "idle timeout"},
		{"seq out of order", append(handshake("order"), wire.Append(nil, wire.Frame{Seq: 5, Payload: []byte{0, 0, 1}})...), false, true, "", "does not follow 0"},
		{"hello twice", append(handshake("twice"), wire.Append(nil, wire.Hello{Name: "twice", Codec: "h264"})...), false, true, "", "unexpected hello"},
		{"codec", append(wire.AppendPreamble(nil), wire.Append(nil, wire.Hello{Name: "vp8cam", Codec: "vp8"})...), false, true, "only \"h264\"", "only"},
	}
	var wg sync.WaitGroup
	for _, tt := range tests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := ts.dial(t)
			defer c.Close()
			if tt.trickle {
				// The preamble (and for the frame case the whole
				// handshake) at once, then one byte every 50ms.
				at := wire.PreambleLen
				if strings.Contains(tt.name, "frame") {
					at = len(handshake("slowframe"))
				}
				c.Write(tt.send[:at])
				go func() {
					for _, b := range tt.send[at:] {
						if _, err := c.Write([]byte{b}); err != nil {
							return
						}
						time.Sleep(50 * time.Millisecond)
					}
				}()
			} else {
				c.Write(tt.send)
				if !tt.keepOpen {
					c.(*net.TCPConn).CloseWrite()
				}
			}
			got, err := readAll(c, 5*time.Second)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Errorf("%s: receiver did not close the connection within 5s", tt.name)
				return
			}
			reject := rejectIn(got)
			if tt.wantReject != "" && !strings.Contains(reject, tt.wantReject) {
				t.Errorf("%s: reject = %q, want it to contain %q", tt.name, reject, tt.wantReject)
			}
			if tt.wantReject == "" && reject != "" {
				t.Errorf("%s: unexpected reject %q", tt.name, reject)
			}
		}()
	}
	wg.Wait()
	if err := <-goodDone; err != nil {
		t.Fatalf("good camera: %v", err)
	}
	select {
	case err := <-ts.done:
		t.Fatalf("Serve returned %v while under attack", err)
	default:
	}
	logs := ts.logs.String()
	for _, tt := range tests {
		if !strings.Contains(logs, tt.wantLog) {
			t.Errorf("%s: log does not contain %q", tt.name, tt.wantLog)
		}
	}
	ts.stop(t)
	checkSegments(t, filepath.Join(dir, "good"), good.Want())
	if _, err := os.Stat(filepath.Join(dir, "..", "x")); err == nil {
		t.Errorf("../x was created outside Dir")
	}
	entries, _ := os.ReadDir(dir)
	allowed := map[string]bool{"good": true, "big": true, "slowframe": true, "order": true, "twice": true}
	for _, e := range entries {
		if !allowed[e.Name()] {
			t.Errorf("unexpected entry %q in Dir", e.Name())
		}
	}
}

// rejectIn finds a Reject among the records the receiver sent.
func rejectIn(b []byte) string {
	rd := wire.NewReader(bytes.NewReader(b), wire.Limits{})
	for {
		r, err := rd.Next()
		if err != nil {
			return ""
		}
		if rj, ok := r.(wire.Reject); ok {
			return rj.Reason
		}
	}
}
