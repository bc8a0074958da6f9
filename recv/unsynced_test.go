package recv

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/camwire/camwire/internal/bufpool"
	"github.com/camwire/camwire/recv/recvtest"
	"github.com/camwire/camwire/wire"
)

// Many cameras together past MaxUnsynced sync early: with SyncInterval
// and SyncBytes too far off to ever fire, the only acknowledgements
// before a segment's end come from the cap, and every camera gets them.
// Each acknowledgement still comes after its frames are in the file,
// the payload buffers handed out stay within the bound session.crowded
// promises (half the cap more, plus two frames a camera) where without
// the cap they would reach everything sent, 51 MB, and
// the finished files hold every frame's bytes in order.
func TestMaxUnsyncedSyncsEarly(t *testing.T) {
	const (
		cams   = 16
		frames = 400
		size   = 8 << 10 // a pool class of its own: capacity = length
		limit  = 2 << 20 // the cameras send 16×3.2 MB, 25× that
	)
	pool := &bufpool.Pool{}
	dir := t.TempDir()
	ts := startServer(t, dir, func(s *Server) {
		s.payloads = pool
		s.SyncInterval = time.Hour
		s.SyncBytes = 1 << 30
		s.MaxUnsynced = limit
		s.MaxConns = cams + 4
	})
	payload := func(cam, i int) []byte {
		p := bytes.Repeat([]byte{byte(cam), byte(i), byte(i >> 8), 0xA5}, size/4)
		copy(p, []byte{0, 0, 0, 1}) // Annex-B start code
		return p
	}
	var wg sync.WaitGroup
	errs := make(chan error, cams)
	for c := range cams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- capCamera(ts.addr, dir, c, frames, payload)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if peak, most := pool.Peak(), int64(limit*3/2+cams*2*size); peak > most {
		t.Errorf("payload buffers peaked at %d bytes, want at most 1.5×MaxUnsynced + 2 frames a camera = %d", peak, most)
	}
	for c := range cams {
		files := finished(t, filepath.Join(dir, camName(c)), ".h264")
		if len(files) != 1 {
			t.Errorf("%s: files %v, want 1", camName(c), files)
			continue
		}
		got, err := os.ReadFile(files[0])
		if err != nil {
			t.Fatal(err)
		}
		var want []byte
		for i := range frames {
			want = append(want, payload(c, i)...)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: file holds %d bytes, not the %d bytes of the %d frames sent", camName(c), len(got), len(want), frames)
		}
	}
}

func camName(c int) string { return fmt.Sprintf("cam%02d", c) }

// capCamera sends frames frames of payload(c, i) as one segment, then the
// segment's end, and checks every acknowledgement: its frames are in the
// file, and at least one came before the segment's end.
func capCamera(addr, dir string, c, frames int, payload func(cam, i int) []byte) error {
	name := camName(c)
	hello := wire.Hello{Name: name, Codec: "h264", FPSNum: 30, FPSDen: 1}
	copy(hello.StreamID[:], name)
	cam, err := recvtest.Dial(addr, hello, 10*time.Second)
	if err != nil {
		return err
	}
	defer cam.Close()
	acks := make(chan error, 1)
	go func() {
		early := 0
		for {
			r, err := cam.Next(time.Minute)
			if err != nil {
				acks <- fmt.Errorf("%s: waiting for acknowledgements: %w", name, err)
				return
			}
			a, ok := r.(wire.Ack)
			if !ok {
				continue
			}
			if a.Seq > uint64(frames) {
				if early == 0 {
					acks <- fmt.Errorf("%s: no acknowledgement before the segment's end: MaxUnsynced made no one sync", name)
					return
				}
				acks <- nil
				return
			}
			early++
			// Frames 1..a.Seq were written before the ack went out. The
			// file may be finished by now (this reads acks late).
			files, _ := filepath.Glob(filepath.Join(dir, name, "*.h264*"))
			var have int64
			if len(files) == 1 {
				if fi, err := os.Stat(files[0]); err == nil {
					have = fi.Size()
				}
			}
			if want := int64(a.Seq) * int64(len(payload(c, 0))); have < want {
				acks <- fmt.Errorf("%s: ack %d with %d bytes in the file, want at least %d", name, a.Seq, have, want)
				return
			}
		}
	}()
	for i := range frames {
		if err := cam.SendFrame(wire.Frame{TimeUS: int64(i) * 1e6 / 30, Key: i == 0, Payload: payload(c, i)}); err != nil {
			return fmt.Errorf("%s: frame %d: %w", name, i, err)
		}
	}
	if err := cam.Send(wire.SegmentEnd{Seq: uint64(frames + 1), Frames: uint32(frames)}); err != nil {
		return err
	}
	return <-acks
}
