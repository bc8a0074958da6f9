package rtsp

import (
	"cmp"
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/description"

	"github.com/camwire/camwire/internal/backoff"
	"github.com/camwire/camwire/wire"
)

// Publisher pushes every camera into an RTSP server that accepts
// ANNOUNCE/RECORD (MediaMTX, and most media servers), at URL with
// "{name}" replaced by the camera's name. Each camera has its own
// connection, queue and reconnect loop: a server that is down or slow
// costs that camera's push frames, never the recording.
type Publisher struct {
	URL      string        // e.g. rtsp://server:8554/{name}
	Clock    Clock         // as Server.Clock
	Logger   *slog.Logger  // nil: slog.Default()
	MinRetry time.Duration // first pause after a failure; 0 means 1 s
	MaxRetry time.Duration // longest pause; 0 means 30 s

	onState func(PublishState) // tests: each state change

	mu     sync.Mutex
	cams   map[string]*pushed
	closed bool
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

// PublishState is one camera's push, for the console and the live page.
type PublishState struct {
	URL       string    `json:"url"`
	Connected bool      `json:"connected"`
	Since     time.Time `json:"since,omitzero"` // connected, or failing, since
	Err       string    `json:"error,omitempty"`
	Frames    uint64    `json:"frames"`  // frames pushed since the receiver started
	Dropped   uint64    `json:"dropped"` // frames not pushed: queue full or server unreachable
}

// String is the state as the console shows it.
func (st PublishState) String() string {
	if st.Connected {
		return "publish ok"
	}
	if st.Err != "" {
		return "publish down: " + st.Err
	}
	return "publish connecting"
}

type pushed struct {
	q       *queue
	onState func(PublishState)
	mu      sync.Mutex
	state   PublishState
}

func (c *pushed) set(f func(*PublishState)) {
	c.mu.Lock()
	f(&c.state)
	c.mu.Unlock()
}

// change records a connection or a failure.
func (c *pushed) change(connected bool, err error) {
	c.mu.Lock()
	c.state.Connected, c.state.Since, c.state.Err = connected, time.Now(), ""
	if err != nil {
		c.state.Err = err.Error()
	}
	st := c.state
	c.mu.Unlock()
	if c.onState != nil {
		c.onState(st)
	}
}

// Frame is recv.Server's OnFrame hook: it queues a copy of f for the
// camera's push and returns at once.
func (p *Publisher) Frame(camera string, h wire.Hello, f wire.Frame) {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	if p.cams == nil {
		p.cams = map[string]*pushed{}
		p.ctx, p.cancel = context.WithCancel(context.Background())
	}
	c := p.cams[camera]
	if c == nil {
		c = &pushed{q: newQueue(), onState: p.onState, state: PublishState{URL: strings.ReplaceAll(p.URL, "{name}", camera)}}
		p.cams[camera] = c
		p.wg.Add(1)
		go p.run(camera, c)
	}
	c.q.put(h, f, now)
}

// State returns camera's push state, if it has sent a frame.
func (p *Publisher) State(camera string) (PublishState, bool) {
	p.mu.Lock()
	c := p.cams[camera]
	p.mu.Unlock()
	if c == nil {
		return PublishState{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.state
	st.Dropped += c.q.dropped.Load()
	return st, true
}

// Close ends every push.
func (p *Publisher) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	if p.cancel != nil {
		p.cancel()
	}
	for _, c := range p.cams {
		close(c.q.c)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// run is one camera's reconnect loop: wait for a keyframe (the server
// needs SPS/PPS in the ANNOUNCE), connect, push until the connection
// fails, pause (doubling up to MaxRetry, back to MinRetry after a push
// that lasted a minute), again.
func (p *Publisher) run(camera string, c *pushed) {
	defer p.wg.Done()
	log := cmp.Or(p.Logger, slog.Default()).With("camera", camera, "url", c.state.URL)
	tr, err := newTrack(camera, p.Clock)
	if err != nil {
		log.Error("publish: camera not pushed", "err", err)
		for range c.q.c {
		}
		return
	}
	bo := backoff.Backoff{Min: cmp.Or(p.MinRetry, time.Second), Max: cmp.Or(p.MaxRetry, 30*time.Second), Stable: time.Minute}
	for {
		first, ok := p.keyframe(c, tr)
		if !ok {
			return
		}
		start := time.Now()
		err := p.push(c, tr, first, log)
		if p.ctx.Err() != nil {
			return
		}
		pause := bo.Next(time.Since(start))
		c.change(false, err)
		log.Warn("publish: connection failed; retrying", "err", err, "pause", pause)
		if !p.discard(c, pause) {
			return
		}
	}
}

// keyframe waits for a keyframe the track can announce, counting what
// it skips as dropped.
func (p *Publisher) keyframe(c *pushed, tr *track) (frame, bool) {
	for fr := range c.q.c {
		if fr.key {
			tr.observe(fr)
			if tr.params() {
				return fr, true
			}
		}
		c.set(func(st *PublishState) { st.Dropped++ })
	}
	return frame{}, false
}

// discard drops queued frames for d (the server is unreachable: stale
// frames are no use to it); false when the Publisher closed.
func (p *Publisher) discard(c *pushed, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case _, ok := <-c.q.c:
			if !ok {
				return false
			}
			c.set(func(st *PublishState) { st.Dropped++ })
		case <-t.C:
			return true
		case <-p.ctx.Done():
			return false
		}
	}
}

// push connects and sends first and every queued frame after it until
// the connection fails or the Publisher closes.
func (p *Publisher) push(c *pushed, tr *track, first frame, log *slog.Logger) error {
	cl := &gortsplib.Client{}
	desc := &description.Session{Medias: []*description.Media{tr.media}}
	if err := cl.StartRecording(c.state.URL, desc); err != nil {
		return err
	}
	defer cl.Close()
	c.change(true, nil)
	log.Info("publish: pushing")
	failed := make(chan error, 1)
	go func() { failed <- cl.Wait() }()
	fr := first
	for {
		pkts, ntp, _, err := tr.packets(fr)
		if err != nil {
			log.Warn("publish: frame not pushed", "err", err)
		}
		for _, pk := range pkts {
			// A full client queue loses this packet only; a
			// closed connection shows up on failed.
			cl.WritePacketRTPWithNTP(tr.media, pk, ntp)
		}
		if err == nil {
			c.set(func(st *PublishState) { st.Frames++ })
		}
		var ok bool
		select {
		case fr, ok = <-c.q.c:
			if !ok {
				return nil
			}
		case err := <-failed:
			return err
		}
	}
}
