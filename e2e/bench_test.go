package e2e

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/camwire/camwire/camconsole"
	"github.com/camwire/camwire/image"
	"github.com/camwire/camwire/image/imagetest"
	"github.com/camwire/camwire/internal/qemu"
	"github.com/camwire/camwire/recv"
)

// firstByte wraps a listener and notes when the first byte arrives on
// any connection it accepts.
type firstByte struct {
	net.Listener
	once sync.Once
	at   chan time.Time
}

func (l *firstByte) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &firstByteConn{Conn: c, l: l}, nil
}

type firstByteConn struct {
	net.Conn
	l *firstByte
}

func (c *firstByteConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.l.once.Do(func() { c.l.at <- time.Now() })
	}
	return n, err
}

// BenchmarkVirtFirstFrame measures how soon a booted camera streams, on
// virt with the real camwire-init: QEMU start → first byte at the
// receiver, and init start → first frame sent (both from the host's
// view: arrival of the console line). The goal for the second is 0.35 s
// (issue 11; camwire-bench's limit for s-init-to-first-frame);
// x-goal-init-to-frame is the measured value over the goal (≤ 1 meets it).
func BenchmarkVirtFirstFrame(b *testing.B) {
	imagetest.Require(b, qemu.Available())
	parts := imagetest.Parts(b)
	dir := b.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r, err := image.Build(ctx, image.Options{Out: filepath.Join(dir, "camwire.img"), Init: imagetest.Init(b, camwireInit)})
	if err != nil {
		b.Fatal(err)
	}
	kernel, initrd := filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "initrd")
	os.WriteFile(kernel, r.ImageFiles["vmlinuz-"+parts.KernelVersion], 0o644)
	os.WriteFile(initrd, r.ImageFiles[image.InitramfsName], 0o644)

	const goal = 350 * time.Millisecond
	var toByte, toFrame, toInit time.Duration
	steps := map[string]time.Duration{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		fb := &firstByte{Listener: ln, at: make(chan time.Time, 1)}
		srv := &recv.Server{Dir: b.TempDir(), Logger: slog.New(slog.DiscardHandler)}
		sctx, sstop := context.WithCancel(ctx)
		served := make(chan error, 1)
		go func() { served <- srv.Serve(sctx, fb) }()

		m, err := qemu.Start(ctx, qemu.Config{Board: qemu.Virt, Kernel: kernel, Initrd: initrd,
			Append: virtAppend(ln.Addr().(*net.TCPAddr).Port)})
		if err != nil {
			b.Fatal(err)
		}
		var cur qemu.Cursor
		initLine, err := m.WaitFor(ctx, &cur, reInitStart)
		if err != nil {
			b.Fatal(err)
		}
		sent, err := m.WaitFor(ctx, &cur, reFirstSent)
		if err != nil {
			b.Fatal(err)
		}
		select {
		case at := <-fb.at:
			toByte += at.Sub(m.Started)
		case <-ctx.Done():
			b.Fatal("no byte reached the receiver")
		}
		toFrame += sent.At.Sub(initLine.At)
		// The kernel's own boot in the same emulator: how fast this
		// host runs TCG today, which moves every figure of the guest.
		toInit += initLine.At.Sub(m.Started)
		// PID 1's own step times say where init → first frame goes.
		for _, l := range m.Lines() {
			if st, ok := camconsole.ParseBootStep(strings.TrimSpace(l.Text)); ok {
				steps[st.Name] += st.Took
			}
		}
		m.Close()
		sstop()
		<-served
	}
	n := time.Duration(b.N)
	b.ReportMetric((toByte / n).Seconds(), "s-qemu-to-first-byte")
	b.ReportMetric((toFrame / n).Seconds(), "s-init-to-first-frame")
	b.ReportMetric((toInit / n).Seconds(), "s-qemu-to-init")
	b.ReportMetric(float64(toFrame/n)/float64(goal), "x-goal-init-to-frame")
	for name, d := range steps {
		b.ReportMetric((d / n).Seconds(), "s-step-"+name)
	}
}
