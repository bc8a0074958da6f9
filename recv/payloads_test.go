package recv

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/camwire/camwire/internal/benchclip"
	"github.com/camwire/camwire/internal/bufpool"
	"github.com/camwire/camwire/mp4"
	"github.com/camwire/camwire/mp4/mp4test"
	"github.com/camwire/camwire/recv/recvtest"
	"github.com/camwire/camwire/segment"
	"github.com/camwire/camwire/wire"
)

// Payloads are read into pooled buffers, written into the MP4 straight
// from there and given back once durable: once the camera holds the
// acknowledgement of a big keyframe, its connection holds no buffer (the
// pool has it, for any camera's next frame), and buffers reused under a
// stream of real H.264 never show one frame's bytes in another's place:
// the file decodes to the very pictures of the clip.
func TestPayloadBuffersReturned(t *testing.T) {
	// The benchmarks' real 16 Mbit/s clip: a 420 KB keyframe, more than
	// the old per-connection cache kept (256 KiB), frames of every size.
	data, err := os.ReadFile(benchclip.Path(t, benchclip.BFrames))
	if err != nil {
		t.Fatal(err)
	}
	var sp segment.Splitter
	all, err := sp.Write(data, 0)
	if err != nil {
		t.Fatal(err)
	}
	aus := all[:60]
	var stream []byte
	for _, au := range aus {
		stream = append(stream, au.Data...)
	}
	pool := &bufpool.Pool{}
	dir := t.TempDir()
	ts := startServer(t, dir, func(s *Server) {
		s.Sink = &mp4.Sink{}
		s.payloads = pool
		s.SyncInterval = time.Hour // only SyncBytes and the segment end sync
	})
	hello := wire.Hello{Name: "cam", Codec: "h264", Width: 1920, Height: 1080, FPSNum: 30, FPSDen: 1}
	cam, err := recvtest.Dial(ts.addr, hello, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer cam.Close()
	if !aus[0].Key || len(aus[0].Data) < 256<<10 {
		t.Fatalf("first frame: key %v, %d bytes; the test wants a keyframe beyond 256 KiB", aus[0].Key, len(aus[0].Data))
	}
	waitAck := func(seq uint64) {
		t.Helper()
		for {
			r, err := cam.Next(10 * time.Second)
			if err != nil {
				t.Fatalf("waiting for the ack of %d: %v\n%s", seq, err, ts.logs)
			}
			if a, ok := r.(wire.Ack); ok && a.Seq >= seq {
				return
			}
		}
	}

	// The keyframe alone is over SyncBytes: it is made durable and
	// acknowledged at once.
	if err := cam.SendFrame(wire.Frame{Key: true, Payload: aus[0].Data}); err != nil {
		t.Fatal(err)
	}
	waitAck(1)
	if got := pool.InUse(); got != 0 {
		t.Errorf("after the keyframe's ack the connection holds %d bytes of payload buffers, want 0", got)
	}
	if got := pool.Idle(); got < int64(len(aus[0].Data)) {
		t.Errorf("pool holds %d idle bytes after the keyframe, want its %d-byte buffer back", got, len(aus[0].Data))
	}
	for i, au := range aus[1:] {
		f := wire.Frame{TimeUS: int64(i+1) * 1e6 / 30, Key: au.Key, Payload: au.Data}
		if err := cam.SendFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := cam.Send(wire.SegmentEnd{Seq: uint64(len(aus) + 1), Frames: uint32(len(aus))}); err != nil {
		t.Fatal(err)
	}
	waitAck(uint64(len(aus) + 1))
	if got := pool.InUse(); got != 0 {
		t.Errorf("after the segment's ack the connection holds %d bytes of payload buffers, want 0", got)
	}
	files := ts.waitFiles(t, 1, 10*time.Second)
	ref := mp4test.FrameHashes(t, mp4test.WriteRaw(t, stream), "-f", "h264")
	if diff := cmp.Diff(ref, mp4test.FrameHashes(t, files[0])); diff != "" {
		t.Errorf("%s does not show the clip's pictures (-clip +file):\n%s", filepath.Base(files[0]), diff)
	}
}
