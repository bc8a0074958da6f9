// Package syncbuf is a bytes.Buffer that many goroutines may write: tests
// collect a program's log or console output in one while it runs, read it
// back while it may still be writing, and wait for what they expect in it
// without polling.
package syncbuf

import (
	"bytes"
	"context"
	"sync"
)

// Buffer is safe for concurrent Write, String and Wait.
type Buffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed at the next Write; nil while nobody waits
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.b.Write(p)
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
	return n, err
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Wait calls cond with everything written so far, and again after every
// Write, until cond returns true (Wait returns nil) or ctx ends (Wait
// returns its error).
func (s *Buffer) Wait(ctx context.Context, cond func(string) bool) error {
	for {
		s.mu.Lock()
		ok := cond(s.b.String())
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
