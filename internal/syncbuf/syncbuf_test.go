package syncbuf

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// TestWait: Wait returns once a Write makes cond true, and with ctx's
// error when none does.
func TestWait(t *testing.T) {
	var b Buffer
	io.WriteString(&b, "one\n")
	done := make(chan error, 1)
	go func() {
		done <- b.Wait(context.Background(), func(s string) bool { return strings.Count(s, "\n") == 3 })
	}()
	io.WriteString(&b, "two\n")
	io.WriteString(&b, "three\n")
	if err := <-done; err != nil {
		t.Errorf("Wait(3 lines) = %v, want nil", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := b.Wait(ctx, func(s string) bool { return strings.Contains(s, "four") }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait(never) = %v, want %v", err, context.DeadlineExceeded)
	}
}
