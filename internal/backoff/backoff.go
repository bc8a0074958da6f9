// Package backoff is the pause between tries of every retry loop in
// camwire (the sender's reconnects, the exec camera's restarts, the
// receiver's accept loop, PID 1's debug shell and recorder restarts): it
// starts short, doubles after each failure up to a cap, and starts over
// after a healthy period, so a passing fault costs little and a lasting
// one does not spin or flood a log.
//
// It is hand-written rather than taken from a library such as
// cenkalti/backoff: the rule is a dozen lines, and those libraries add
// jitter, an elapsed-time limit and a retry driver that none of these
// loops wants (each one pauses on its own terms: reaping, logging).
package backoff

import (
	"context"
	"time"
)

// Backoff computes the pauses between tries. The zero value is not
// useful: set Min and Max (Max >= Min > 0). Not safe for concurrent use;
// each retry loop owns one.
type Backoff struct {
	Min time.Duration // the first pause, and the pause after a reset
	Max time.Duration // the longest pause
	// Stable is how long a try must have been healthy for the next pause
	// to start over at Min. 0 means never by time; call Reset instead.
	Stable time.Duration

	cur time.Duration // the last pause; 0 before the first or after Reset
}

// Next returns the pause after a try that stayed healthy for healthy (0
// when it failed at once: could not connect, could not start): Min for
// the first try or after one healthy for Stable or longer, otherwise
// twice the last pause, at most Max.
func (b *Backoff) Next(healthy time.Duration) time.Duration {
	if b.cur == 0 || (b.Stable > 0 && healthy >= b.Stable) {
		b.cur = b.Min
	} else {
		b.cur = min(2*b.cur, b.Max)
	}
	return b.cur
}

// Reset makes the next pause Min again, for loops that know a try
// succeeded without timing it (an accepted connection, a started child).
func (b *Backoff) Reset() { b.cur = 0 }

// Sleep pauses for d and reports true, or reports false as soon as ctx
// ends (at once when it already has).
func Sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
