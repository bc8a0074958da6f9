package guestbench

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/camwire/camwire/recv"
	"github.com/camwire/camwire/segment"
)

// Want is how many bytes of clip a receiver stores before the recorder
// can be stopped without cutting the clip short: all but the last access
// unit, which the splitter knows is complete only when the next one
// starts or the command exits (the drain at SIGTERM sends it).
func Want(clip []byte) (uint64, error) {
	var sp segment.Splitter
	aus, err := sp.Write(clip, 0)
	if err != nil || len(aus) == 0 {
		return 0, fmt.Errorf("guestbench: splitting the clip: %d access units, %v", len(aus), err)
	}
	rest := sp.Flush()
	if len(rest) == 0 {
		return uint64(len(clip)), nil
	}
	return uint64(len(clip) - len(rest[len(rest)-1].Data)), nil
}

// WaitStored waits until srv's framed connections hold want bytes.
func WaitStored(ctx context.Context, srv *recv.Server, want uint64) error {
	var got uint64
	for {
		got = 0
		for _, s := range srv.Status() {
			if s.Mode == "framed" {
				got += s.Bytes
			}
		}
		if got >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("guestbench: receiver stored %d of %d bytes: %w", got, want, ctx.Err())
		case <-time.After(20 * time.Millisecond): // polling a counter that has no event
		}
	}
}

// Sink is the old receiver's end (nc -l > FILE) without the file: it
// reads every connection to its end and counts the bytes.
type Sink struct {
	ln   net.Listener
	mu   sync.Mutex
	got  []int64
	done chan struct{}
}

// NewSink listens on ln until Close.
func NewSink(ln net.Listener) *Sink {
	s := &Sink{ln: ln, done: make(chan struct{})}
	go s.serve()
	return s
}

func (s *Sink) serve() {
	defer close(s.done)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			n, _ := io.Copy(io.Discard, c)
			s.mu.Lock()
			s.got = append(s.got, n)
			s.mu.Unlock()
		}()
	}
}

// Received lists the bytes of each finished connection, in the order
// they ended.
func (s *Sink) Received() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.got...)
}

// Close stops listening and waits for the open connections to end.
func (s *Sink) Close() error {
	err := s.ln.Close()
	<-s.done
	return err
}
