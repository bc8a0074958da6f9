package recv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/camwire/camwire/internal/bufpool"
	"github.com/camwire/camwire/recv/recvtest"
	"github.com/camwire/camwire/wire"
)

// TestStorageErrorHoldsNextRecord: while storage fails, the record after
// the failure waits for the retry; it is not applied in the error state.
// Applied, a segment end (or the next segment's first frame) finished the
// file with a second fsync, which succeeds after a writeback error (Linux
// reports it once) with the lost pages missing, and acknowledged it: the
// camera then discarded frames that are not in the file. Held, the retry
// cuts the file back, writes the frame again and only then goes on.
func TestStorageErrorHoldsNextRecord(t *testing.T) {
	frame := bytes.Repeat([]byte{0, 0, 0, 1, 0x65, 0xaa, 0xbb, 0xcc}, 512)
	for _, tt := range []struct {
		name string
		next func(cam *recvtest.Camera) error
	}{
		{"segment end", func(cam *recvtest.Camera) error {
			return cam.Send(wire.SegmentEnd{Seq: 2, Segment: 0, Frames: 1})
		}},
		{"next segment's first frame", func(cam *recvtest.Camera) error {
			return cam.SendFrame(wire.Frame{Segment: 1, TimeUS: 1e6, Key: true, Payload: frame})
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pool := &bufpool.Pool{}
			ts := startServer(t, t.TempDir(), func(s *Server) {
				// The first fsync fails (the sync tick's), losing the
				// frame's pages; the next succeeds.
				s.Sink = &fakeSink{failSyncs: 1, losePages: true}
				s.payloads = pool
				s.SyncBytes = 1 << 30
				// Long enough that the second record arrives well
				// before the retry: before the fix it was applied then.
				s.RetryInterval = 500 * time.Millisecond
			})
			cam, err := recvtest.Dial(ts.addr, wire.Hello{Name: "cam", Codec: "h264"}, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer cam.Close()
			var got []string
			next := func() wire.Record {
				t.Helper()
				r, err := cam.Next(10 * time.Second)
				if err != nil {
					t.Fatalf("after %q: %v", got, err)
				}
				switch r := r.(type) {
				case wire.Ack:
					got = append(got, fmt.Sprintf("ack %d", r.Seq))
				case wire.Notice:
					got = append(got, "notice: "+r.Message)
				default:
					got = append(got, r.Type().String())
				}
				return r
			}
			if err := cam.SendFrame(wire.Frame{Key: true, Payload: frame}); err != nil {
				t.Fatal(err)
			}
			next() // the Notice: storage fails
			if err := tt.next(cam); err != nil {
				t.Fatal(err)
			}
			for {
				if a, ok := next().(wire.Ack); ok && a.Seq >= 2 {
					break
				}
			}
			want := []string{
				"notice: camwire-recv cannot store data, acknowledgements paused: " + errDiskFull.Error(),
				"ack 1", // the retry wrote the frame again
				"notice: camwire-recv stores data again",
				"ack 2",
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("what the camera was sent (-want +got):\n%s", diff)
			}
			files := ts.waitFiles(t, 1, 10*time.Second)
			if b, err := os.ReadFile(files[0]); err != nil || !bytes.Equal(b, frame) {
				t.Errorf("%s holds %d bytes (%d zeros), %v; want the %d-byte frame", files[0], len(b), bytes.Count(b, []byte{0}), err, len(frame))
			}
			if got := pool.InUse(); got != 0 {
				t.Errorf("pool.InUse() = %d after everything was acknowledged, want 0", got)
			}
		})
	}
}

// TestPayloadBuffersDropped: a payload buffer the session lets go of
// without storing it goes back to the pool, so the pool's InUse counts
// only the frames connections hold: the receiver-wide cap on unsynced
// bytes is built on it.
func TestPayloadBuffersDropped(t *testing.T) {
	payload := bytes.Repeat([]byte{0, 0, 0, 1, 0x41, 7}, 2000)
	frame := func(seq uint64) []byte {
		return wire.Append(nil, wire.Frame{Seq: seq, Key: true, Payload: payload})
	}
	for _, tt := range []struct {
		name      string
		failSyncs int
		// drive sends what it sends and returns once the session has
		// taken it; the server is then stopped.
		drive func(t *testing.T, cam *recvtest.Camera)
	}{
		{"all durable", 0, func(t *testing.T, cam *recvtest.Camera) {
			send(t, cam, frame(1), frame(2))
			endOfConn(t, cam)
		}},
		{"frame out of sequence", 0, func(t *testing.T, cam *recvtest.Camera) {
			send(t, cam, frame(1), frame(3))
			endOfConn(t, cam) // the protocol error closes the connection
		}},
		{"frame cut short", 0, func(t *testing.T, cam *recvtest.Camera) {
			f := frame(2)
			send(t, cam, frame(1), f[:len(f)-100])
			endOfConn(t, cam)
		}},
		{"receiver stopped while storage fails", 1 << 20, func(t *testing.T, cam *recvtest.Camera) {
			send(t, cam, frame(1))
			waitNotice(t, cam)
			send(t, cam, frame(2)) // read and held until storage works, or not read
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pool := &bufpool.Pool{}
			ts := startServer(t, t.TempDir(), func(s *Server) {
				s.Sink = &fakeSink{failSyncs: tt.failSyncs}
				s.payloads = pool
				s.RetryInterval = time.Hour
			})
			cam, err := recvtest.Dial(ts.addr, wire.Hello{Name: "cam", Codec: "h264"}, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer cam.Close()
			tt.drive(t, cam)
			ts.stop(t) // every session has ended
			if got := pool.InUse(); got != 0 {
				t.Errorf("pool.InUse() = %d after the session ended, want 0", got)
			}
		})
	}
}

// send writes encoded records to the camera's connection.
func send(t *testing.T, cam *recvtest.Camera, recs ...[]byte) {
	t.Helper()
	for _, b := range recs {
		if _, err := cam.Conn.Write(b); err != nil {
			t.Fatal(err)
		}
	}
}

// waitNotice reads until the receiver's Notice.
func waitNotice(t *testing.T, cam *recvtest.Camera) {
	t.Helper()
	for {
		r, err := cam.Next(10 * time.Second)
		if err != nil {
			t.Fatalf("waiting for a notice: %v", err)
		}
		if _, ok := r.(wire.Notice); ok {
			return
		}
	}
}

// endOfConn half-closes the camera's side and reads until the receiver
// closes its own: the session has ended.
func endOfConn(t *testing.T, cam *recvtest.Camera) {
	t.Helper()
	cam.Conn.(*net.TCPConn).CloseWrite()
	for {
		if _, err := cam.Next(10 * time.Second); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("receiver did not close the connection: %v", err)
				}
			}
			return
		}
	}
}
