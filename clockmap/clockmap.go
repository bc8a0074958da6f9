// Package clockmap maps a camera's monotonic capture clock to the
// receiver's wall clock, from round trips the way NTP and RTCP sender
// reports do it.
//
// One round trip gives four times: the receiver sends a ping at l1 (its
// clock), the camera reads r2 when the ping arrives and r3 when its reply
// leaves (its monotonic clock), the receiver reads l4 when the reply
// arrives. Whatever the network did, the offset local−remote lay in
//
//	[l1 − r2, l4 − r3]
//
// an interval as wide as the round trip's delay (l4−l1) − (r3−r2). Its
// middle is NTP's offset; its half-width bounds the error. Delay that
// queueing adds on one way only (video filling the camera→laptop
// direction) widens the interval and moves the middle, so only the
// least-delay samples are worth believing: the estimator keeps the best
// sample of each Bucket of camera time and fits offset and skew (a
// crystal runs some ppm fast or slow) through them, weighted by how
// narrow they are.
//
// A sample that contradicts the fit by more than both their error bounds
// is an outlier and dropped; three in a row mean the clock itself jumped
// (the laptop's clock was set), and the estimator starts over from them.
package clockmap

import (
	"math"
	"sync"
	"time"
)

// Sample is one round trip.
type Sample struct {
	Sent     time.Time     // l1: receiver sent the ping
	Received time.Time     // l4: receiver read the reply
	PingIn   time.Duration // r2: camera clock when the ping arrived
	ReplyOut time.Duration // r3: camera clock when the reply left
}

// Delay is the round trip minus the camera's own time holding it.
func (s Sample) Delay() time.Duration {
	return s.Received.Sub(s.Sent) - (s.ReplyOut - s.PingIn)
}

// Defaults for Estimator's zero fields.
const (
	DefaultBucket  = 5 * time.Second
	DefaultWindow  = 10 * time.Minute
	DefaultMinSpan = time.Minute
	// MaxSkew bounds a believable skew: crystals are within ±100 ppm; a
	// fit beyond this comes from bad samples, and offset alone is used.
	MaxSkew = 1000e-6
)

// floor is the least error bound given to any sample (µs), so that one
// sample with a round trip of 0 does not outweigh all others.
const floor = 100.0

// stepAfter is how many consecutive contradicting samples mean the
// clock jumped rather than the samples being outliers.
const stepAfter = 3

// point is one sample reduced: at camera time r (µs, the middle of r2 and
// r3), offset off (µs, local Unix µs − camera µs), error bound half (µs).
type point struct {
	r    int64
	off  float64
	half float64
}

// Estimator is safe for concurrent use. The zero value is ready.
type Estimator struct {
	Bucket  time.Duration // keep the least-delay sample per this much camera time; 0: DefaultBucket
	Window  time.Duration // fit over this much camera time; 0: DefaultWindow
	MinSpan time.Duration // estimate skew only from samples this far apart; 0: DefaultMinSpan

	mu       sync.Mutex
	pts      []point // best per bucket, ascending r
	odd      []point // recent contradicting samples
	fitted   bool
	r0       int64   // fit origin
	a, b     float64 // offset at r0 (µs), skew (µs per µs)
	half     float64 // error bound of the fit's best point (µs)
	accepted int
	rejected int
}

// Estimate is the current mapping, for logs and status.
type Estimate struct {
	Offset   time.Duration // local − camera at the newest sample
	Skew     float64       // how fast the camera's clock runs, parts per one (1e-6: 1 ppm fast); 0 until MinSpan
	Error    time.Duration // half the least delay: the offset is within ± this
	Samples  int           // samples taken
	Rejected int           // samples dropped as outliers or bogus
}

// Add takes one round trip and reports whether it was used.
func (e *Estimator) Add(s Sample) bool {
	d := s.Delay()
	if d < -time.Millisecond || s.ReplyOut < s.PingIn {
		e.mu.Lock()
		e.rejected++
		e.mu.Unlock()
		return false // impossible: the clocks read inconsistently
	}
	l1 := s.Sent.UnixMicro()
	// l4 from l1 plus the elapsed time, so a wall-clock step between the
	// two cannot make the interval nonsense.
	l4 := l1 + s.Received.Sub(s.Sent).Microseconds()
	r2, r3 := s.PingIn.Microseconds(), s.ReplyOut.Microseconds()
	lo, hi := float64(l1-r2), float64(l4-r3)
	p := point{r: (r2 + r3) / 2, off: (lo + hi) / 2, half: math.Max(0, (hi-lo)/2)}

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fitted {
		pred := e.at(p.r)
		if math.Abs(p.off-pred) > p.half+e.half+2*floor+math.Abs(e.b)*float64(abs(p.r-e.r0)) {
			e.odd = append(e.odd, p)
			if len(e.odd) < stepAfter {
				e.rejected++
				return false
			}
			// The clock stepped: what was learned before is wrong now.
			e.pts = nil
			for _, q := range e.odd {
				e.insert(q)
			}
			e.odd = nil
			e.accepted++
			e.fit()
			return true
		}
	}
	e.odd = nil
	e.insert(p)
	e.accepted++
	e.fit()
	return true
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// insert keeps p if it is the best of its bucket and drops points older
// than the window.
func (e *Estimator) insert(p point) {
	bucket := e.Bucket
	if bucket <= 0 {
		bucket = DefaultBucket
	}
	window := e.Window
	if window <= 0 {
		window = DefaultWindow
	}
	bk := bucket.Microseconds()
	i := len(e.pts)
	for i > 0 && e.pts[i-1].r > p.r {
		i--
	}
	switch {
	case i > 0 && floorDiv(e.pts[i-1].r, bk) == floorDiv(p.r, bk):
		if p.half < e.pts[i-1].half {
			e.pts[i-1] = p
		}
	case i < len(e.pts) && floorDiv(e.pts[i].r, bk) == floorDiv(p.r, bk):
		if p.half < e.pts[i].half {
			e.pts[i] = p
		}
	default:
		e.pts = append(e.pts, point{})
		copy(e.pts[i+1:], e.pts[i:])
		e.pts[i] = p
	}
	newest := e.pts[len(e.pts)-1].r
	n := 0
	for n < len(e.pts)-1 && newest-e.pts[n].r > window.Microseconds() {
		n++
	}
	e.pts = e.pts[n:]
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// fit sets a, b from pts: weighted least squares with weights 1/half²
// once the points span MinSpan, else the narrowest point's offset.
func (e *Estimator) fit() {
	e.fitted = len(e.pts) > 0
	if !e.fitted {
		return
	}
	best := e.pts[0]
	for _, p := range e.pts {
		if p.half < best.half {
			best = p
		}
	}
	e.half = best.half
	e.r0, e.a, e.b = best.r, best.off, 0
	minSpan := e.MinSpan
	if minSpan <= 0 {
		minSpan = DefaultMinSpan
	}
	if len(e.pts) < 3 || e.pts[len(e.pts)-1].r-e.pts[0].r < minSpan.Microseconds() {
		return
	}
	a, b, ok := e.line(e.pts)
	if !ok {
		return
	}
	// One pass of outlier removal: a point off the line by more than
	// three of its own bounds is not believed.
	keep := make([]point, 0, len(e.pts))
	for _, p := range e.pts {
		w := p.half + floor
		if math.Abs(p.off-(a+b*float64(p.r-e.r0))) <= 3*w {
			keep = append(keep, p)
		}
	}
	if len(keep) >= 3 && len(keep) < len(e.pts) {
		if a2, b2, ok2 := e.line(keep); ok2 {
			a, b = a2, b2
		}
	}
	if math.Abs(b) > MaxSkew {
		return
	}
	e.a, e.b = a, b
}

// line is the weighted least-squares line through pts around r0.
func (e *Estimator) line(pts []point) (a, b float64, ok bool) {
	var sw, sx, sy, sxx, sxy float64
	for _, p := range pts {
		w := 1 / ((p.half + floor) * (p.half + floor))
		x := float64(p.r - e.r0)
		sw += w
		sx += w * x
		sy += w * p.off
		sxx += w * x * x
		sxy += w * x * p.off
	}
	den := sw*sxx - sx*sx
	if den <= 0 || sw == 0 {
		return 0, 0, false
	}
	b = (sw*sxy - sx*sy) / den
	a = (sy - b*sx) / sw
	return a, b, true
}

// at is the fitted offset at camera time r (µs). Caller holds mu.
func (e *Estimator) at(r int64) float64 { return e.a + e.b*float64(r-e.r0) }

// Local maps a camera time to the receiver's wall clock; false until a
// sample was taken.
func (e *Estimator) Local(camera time.Duration) (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.fitted {
		return time.Time{}, false
	}
	r := camera.Microseconds()
	return time.UnixMicro(r + int64(math.Round(e.at(r)))).UTC(), true
}

// Estimate returns the current mapping; its zero value before a sample.
func (e *Estimator) Estimate() Estimate {
	e.mu.Lock()
	defer e.mu.Unlock()
	est := Estimate{Samples: e.accepted, Rejected: e.rejected}
	if !e.fitted {
		return est
	}
	newest := e.pts[len(e.pts)-1].r
	est.Offset = time.Duration(math.Round(e.at(newest))) * time.Microsecond
	est.Skew = -e.b // offset falls as a fast camera clock gains
	est.Error = time.Duration(e.half) * time.Microsecond
	return est
}
