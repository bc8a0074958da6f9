package clockmap

import (
	"math/rand/v2"
	"testing"
	"time"
)

// world simulates a laptop whose wall clock is the truth and a camera
// whose monotonic clock started at boot and runs drift fast.
type world struct {
	t0    time.Time     // true time of the first round trip
	boot  time.Duration // camera clock at t0
	drift float64       // camera clock rate error (1e-6 = 1 ppm fast)
	step  time.Duration // laptop clock error after stepAt samples
	rng   *rand.Rand
}

func (w *world) camera(at time.Time) time.Duration {
	el := at.Sub(w.t0)
	return w.boot + el + time.Duration(float64(el)*w.drift)
}

// trip is one round trip starting at true time at, up and down the
// one-way delays, the camera holding the ping for hold.
func (w *world) trip(at time.Time, up, down, hold time.Duration, laptopErr time.Duration) Sample {
	return Sample{
		Sent:     at.Add(laptopErr),
		PingIn:   w.camera(at.Add(up)),
		ReplyOut: w.camera(at.Add(up + hold)),
		Received: at.Add(up + hold + down + laptopErr),
	}
}

func ms(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }

func TestEstimator(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 14, 5, 0, 0, time.UTC)
	type probe struct {
		at  time.Duration // true time after t0 of the capture asked about
		max time.Duration // allowed error of Local
	}
	tests := []struct {
		name     string
		drift    float64
		n        int           // round trips
		every    time.Duration // between round trips
		delays   func(i int, rng *rand.Rand) (up, down time.Duration)
		outlier  func(i int, s Sample) Sample // nil: none
		laptop   func(i int) time.Duration    // laptop clock error at trip i
		probes   []probe
		wantRej  int // at least this many rejected
		wantSkew float64
	}{
		{
			name: "one sample at hello", drift: 0, n: 1, every: time.Second,
			delays: func(int, *rand.Rand) (time.Duration, time.Duration) { return ms(0.3), ms(0.3) },
			probes: []probe{{0, ms(0.05)}, {-20 * time.Second, ms(0.05)}},
		},
		{
			name: "symmetric jitter", drift: 0, n: 40, every: 500 * time.Millisecond,
			delays: func(_ int, rng *rand.Rand) (time.Duration, time.Duration) {
				d := ms(1 + 4*rng.Float64())
				return d, d
			},
			probes: []probe{{0, ms(0.1)}, {20 * time.Second, ms(0.1)}},
		},
		{
			// Video queued in the camera→laptop direction delays most
			// replies by up to 300 ms; a few get through at once.
			name: "asymmetric queueing", drift: 0, n: 200, every: 500 * time.Millisecond,
			delays: func(i int, rng *rand.Rand) (time.Duration, time.Duration) {
				if i%20 == 7 {
					return ms(0.5), ms(0.5)
				}
				return ms(0.5), ms(300 * rng.Float64())
			},
			probes: []probe{{0, ms(1)}, {90 * time.Second, ms(1)}},
		},
		{
			// 80 ppm fast over 10 minutes is 48 ms; frames buffered 20 s
			// before the last sample must map right too.
			name: "skewed camera clock", drift: 80e-6, n: 1200, every: 500 * time.Millisecond,
			delays: func(_ int, rng *rand.Rand) (time.Duration, time.Duration) {
				return ms(1 + 3*rng.Float64()), ms(1 + 20*rng.Float64())
			},
			probes:   []probe{{600*time.Second - 20*time.Second, ms(2)}, {600 * time.Second, ms(2)}, {0, ms(5)}},
			wantSkew: 80e-6,
		},
		{
			name: "outliers with a narrow but wrong reply", drift: 0, n: 60, every: 500 * time.Millisecond,
			delays: func(int, *rand.Rand) (time.Duration, time.Duration) { return ms(1), ms(1) },
			outlier: func(i int, s Sample) Sample {
				if i%10 == 5 { // a reply whose camera times are 2 s off
					s.PingIn += 2 * time.Second
					s.ReplyOut += 2 * time.Second
				}
				return s
			},
			probes:  []probe{{15 * time.Second, ms(0.1)}},
			wantRej: 5,
		},
		{
			name: "laptop clock set forward an hour", drift: 0, n: 60, every: 500 * time.Millisecond,
			delays: func(int, *rand.Rand) (time.Duration, time.Duration) { return ms(1), ms(1) },
			laptop: func(i int) time.Duration {
				if i >= 30 {
					return time.Hour
				}
				return 0
			},
			// Probes are in true time; after the step the laptop's
			// clock, which names files, reads an hour ahead.
			probes: []probe{{29 * time.Second, ms(0.1)}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := &world{t0: t0, boot: 37*time.Second + 123456*time.Microsecond, drift: tc.drift, rng: rand.New(rand.NewPCG(1, 2))}
			var e Estimator
			for i := range tc.n {
				at := t0.Add(time.Duration(i) * tc.every)
				up, down := tc.delays(i, w.rng)
				var lerr time.Duration
				if tc.laptop != nil {
					lerr = tc.laptop(i)
				}
				s := w.trip(at, up, down, ms(0.2), lerr)
				if tc.outlier != nil {
					s = tc.outlier(i, s)
				}
				e.Add(s)
			}
			var lerr time.Duration
			if tc.laptop != nil {
				lerr = tc.laptop(tc.n - 1)
			}
			for _, p := range tc.probes {
				truth := t0.Add(p.at)
				got, ok := e.Local(w.camera(truth))
				if !ok {
					t.Fatalf("Local(%v) = no estimate", p.at)
				}
				if diff := got.Sub(truth.Add(lerr)); diff > p.max || diff < -p.max {
					t.Errorf("Local(camera time of t0%+v) is %v off, want within ±%v (estimate %+v)", p.at, diff, p.max, e.Estimate())
				}
			}
			est := e.Estimate()
			if est.Rejected < tc.wantRej {
				t.Errorf("Rejected = %d, want at least %d", est.Rejected, tc.wantRej)
			}
			if tc.wantSkew != 0 {
				if d := est.Skew - tc.wantSkew; d > 5e-6 || d < -5e-6 {
					t.Errorf("Skew = %.1f ppm, want %.1f ±5", est.Skew*1e6, tc.wantSkew*1e6)
				}
			}
		})
	}
}

func TestEstimatorRefusesImpossible(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name string
		s    Sample
	}{
		{"reply before ping", Sample{Sent: now, Received: now.Add(time.Millisecond), PingIn: 2 * time.Second, ReplyOut: time.Second}},
		{"camera held it longer than the round trip", Sample{Sent: now, Received: now.Add(time.Millisecond), PingIn: time.Second, ReplyOut: 2 * time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e Estimator
			if e.Add(tc.s) {
				t.Errorf("Add(%+v) = true, want false", tc.s)
			}
			if _, ok := e.Local(time.Second); ok {
				t.Errorf("Local after only an impossible sample = ok, want no estimate")
			}
		})
	}
}
