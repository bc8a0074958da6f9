package upload

import (
	"context"
	"io"
	"time"
)

// limited reads from r at most rate bytes per second on average. Hand
// written: pacing one sequential reader is a few lines, where a token
// bucket library adds bursts and concurrency we do not need.
type limited struct {
	ctx   context.Context
	r     io.Reader
	rate  int64
	start time.Time
	n     int64
}

func (l *limited) Read(p []byte) (int, error) {
	if l.start.IsZero() {
		l.start = time.Now()
	}
	if max := l.rate / 10; int64(len(p)) > max && max > 0 {
		p = p[:max] // a tenth of a second at a time, so pacing is smooth
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	due := l.start.Add(time.Duration(float64(l.n) / float64(l.rate) * float64(time.Second)))
	if d := time.Until(due); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-l.ctx.Done():
			t.Stop()
			return n, l.ctx.Err()
		}
	}
	return n, err
}
