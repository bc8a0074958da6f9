package backoff

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// reset is a step that calls Reset instead of Next.
const reset time.Duration = -1

// TestNext: failures double the pause up to the cap; a try healthy for
// Stable, or a Reset, starts it over. The cases carry the callers' own
// numbers.
func TestNext(t *testing.T) {
	const ms, s = time.Millisecond, time.Second
	for _, tc := range []struct {
		name  string
		b     Backoff
		steps []time.Duration // how long each try was healthy; reset: call Reset
		want  []time.Duration // the pause after each try (Reset gives none)
	}{
		{"sender: doubling to the cap", Backoff{Min: 100 * ms, Max: 2 * s, Stable: 2 * s},
			[]time.Duration{0, 0, 0, 0, 0, 0, 0, 0, 0},
			[]time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 2 * s, 2 * s, 2 * s, 2 * s}},
		{"sender: a short connection does not reset", Backoff{Min: 100 * ms, Max: 2 * s, Stable: 2 * s},
			[]time.Duration{0, 0, 0, 1999 * ms, 0},
			[]time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms}},
		{"sender: a healthy connection resets", Backoff{Min: 100 * ms, Max: 2 * s, Stable: 2 * s},
			[]time.Duration{0, 0, 0, 2 * s, 0},
			[]time.Duration{100 * ms, 200 * ms, 400 * ms, 100 * ms, 200 * ms}},
		{"exec: a run of StableAfter resets", Backoff{Min: 100 * ms, Max: 2 * s, Stable: 10 * s},
			[]time.Duration{s, 5 * s, 9 * s, 10 * s, 0},
			[]time.Duration{100 * ms, 200 * ms, 400 * ms, 100 * ms, 200 * ms}},
		{"accept: reset on success, never by time", Backoff{Min: 5 * ms, Max: s},
			[]time.Duration{0, 0, time.Hour, reset, 0, 0},
			[]time.Duration{5 * ms, 10 * ms, 20 * ms, 5 * ms, 10 * ms}},
		{"accept: cap below the next doubling", Backoff{Min: 5 * ms, Max: s},
			[]time.Duration{0, 0, 0, 0, 0, 0, 0, 0, 0},
			[]time.Duration{5 * ms, 10 * ms, 20 * ms, 40 * ms, 80 * ms, 160 * ms, 320 * ms, 640 * ms, s}},
		{"shell: cannot start", Backoff{Min: s, Max: time.Minute, Stable: 5 * s},
			[]time.Duration{0, 0, 0, 0, 0, 0, 0, 0, 0},
			[]time.Duration{1 * s, 2 * s, 4 * s, 8 * s, 16 * s, 32 * s, 60 * s, 60 * s, 60 * s}},
		{"shell: user exits", Backoff{Min: s, Max: time.Minute, Stable: 5 * s},
			[]time.Duration{30 * s, 10 * s, 5 * s},
			[]time.Duration{1 * s, 1 * s, 1 * s}},
		{"shell: quick exits", Backoff{Min: s, Max: time.Minute, Stable: 5 * s},
			[]time.Duration{s / 10, 2 * s, 4 * s},
			[]time.Duration{1 * s, 2 * s, 4 * s}},
		{"shell: reset after a stable shell", Backoff{Min: s, Max: time.Minute, Stable: 5 * s},
			[]time.Duration{0, 0, 0, 0, 20 * s, 0, 0},
			[]time.Duration{1 * s, 2 * s, 4 * s, 8 * s, 1 * s, 2 * s, 4 * s}},
		{"supervisor: start failures, reset on a start", Backoff{Min: 2 * s, Max: time.Minute},
			[]time.Duration{0, 0, 0, 0, 0, 0, 0, reset, 0},
			[]time.Duration{2 * s, 4 * s, 8 * s, 16 * s, 32 * s, 60 * s, 60 * s, 2 * s}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.b
			var got []time.Duration
			for _, h := range tc.steps {
				if h == reset {
					b.Reset()
					continue
				}
				got = append(got, b.Next(h))
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("pauses after tries healthy for %v (-want +got):\n%s", tc.steps, diff)
			}
		})
	}
}

// lateDone is a context that looks alive when first asked but whose Done
// is already closed, so Sleep must notice the end in its select, not in
// its first check.
type lateDone struct {
	context.Context
	asked bool
}

func (c *lateDone) Err() error {
	if !c.asked {
		c.asked = true
		return nil
	}
	return context.Canceled
}

func (c *lateDone) Done() <-chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}

// TestSleep: Sleep reports whether it slept the whole pause; an ended
// context ends it at once (the hour-long pauses would otherwise hang the
// test until its timeout).
func TestSleep(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		d    time.Duration
		want bool
	}{
		{"slept", context.Background(), time.Microsecond, true},
		{"no pause", context.Background(), 0, true},
		{"cancelled before", cancelled, time.Hour, false},
		{"cancelled before, no pause", cancelled, 0, false},
		{"cancelled while sleeping", &lateDone{Context: context.Background()}, time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Sleep(tc.ctx, tc.d); got != tc.want {
				t.Errorf("Sleep(%s, %v) = %v, want %v", tc.name, tc.d, got, tc.want)
			}
		})
	}
}
