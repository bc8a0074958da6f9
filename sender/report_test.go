package sender

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/camwire/camwire/recv"
)

// TestReportNotSentToOldReceiver: a 1.0 receiver (testRecv's Challenge
// has no minor version) closes a connection on a record type it does
// not know, so the sender never sends it the report, nor even gathers
// it, and video flows as before.
func TestReportNotSentToOldReceiver(t *testing.T) {
	rcv := newTestRecv(t, "127.0.0.1:0").start()
	var calls atomic.Int32
	s, _ := startSender(t, Config{Addr: rcv.Addr(), Dial: tcpDial,
		Report: func() string { calls.Add(1); return "report\n" }})
	for i := range 30 {
		s.Frame(0, int64(i)*33000, i == 0, []byte{0, 0, 0, 1, 0x65, byte(i)})
	}
	drain(t, s)
	if n := calls.Load(); n != 0 {
		t.Errorf("Report called %d times for a 1.0 receiver, want 0", n)
	}
	if _, dups := rcv.snapshot(); dups != 0 {
		t.Errorf("%d duplicates", dups)
	}
}

// TestReportStoredOnce: a 1.1 receiver (the real one) gets the report
// right after the Welcome and confirms it; a reconnect does not send it
// again.
func TestReportStoredOnce(t *testing.T) {
	reports := make(chan string, 4)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &recv.Server{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
		OnReport: func(_, _, text string) { reports <- text }}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { defer close(served); srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-served })

	var mu sync.Mutex
	var conns []net.Conn
	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := tcpDial(ctx, addr)
		if err == nil {
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
		return c, err
	}
	var calls atomic.Int32
	s, _ := startSender(t, Config{Addr: ln.Addr().String(), Dial: dial,
		Report: func() string { calls.Add(1); return "camwire boot report: testcam\nmore\n" }})
	select {
	case got := <-reports:
		if got != "camwire boot report: testcam\nmore\n" {
			t.Errorf("receiver got report %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no report reached the receiver within 10s")
	}
	select {
	case <-s.ReportStored():
	case <-time.After(10 * time.Second):
		t.Fatal("ReportStored not closed 10s after the receiver stored the report")
	}

	mu.Lock()
	conns[0].Close() // cut: the sender reconnects
	mu.Unlock()
	for i := range 10 {
		s.Frame(0, int64(i)*33000, i == 0, []byte{0, 0, 0, 1, 0x65, byte(i)})
	}
	drain(t, s)
	if c := s.Counters(); c.Connects < 2 {
		t.Fatalf("connects = %d, want a reconnect", c.Connects)
	}
	select {
	case got := <-reports:
		t.Errorf("report sent again after it was stored: %q", got)
	default:
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("Report called %d times, want 1", n)
	}
}

// TestReportDoesNotHoldVideo: gathering the report (slow on a slow
// board, and it waits for PID 1's drivers) runs beside the video: frames
// sent while Report has not returned yet are acknowledged, and the report
// follows on the same connection once it is ready.
func TestReportDoesNotHoldVideo(t *testing.T) {
	reports := make(chan string, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &recv.Server{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
		OnReport: func(_, _, text string) { reports <- text }}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { defer close(served); srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-served })

	release := make(chan struct{})
	s, _ := startSender(t, Config{Addr: ln.Addr().String(), Dial: tcpDial,
		Report: func() string { <-release; return "camwire boot report: late\n" }})
	for i := range 10 {
		s.Frame(0, int64(i)*33000, i == 0, []byte{0, 0, 0, 1, 0x65, byte(i)})
	}
	drain(t, s) // every frame acknowledged while Report still blocks
	select {
	case got := <-reports:
		t.Fatalf("report %q arrived before Report returned", got)
	default:
	}
	close(release)
	select {
	case got := <-reports:
		if got != "camwire boot report: late\n" {
			t.Errorf("receiver got report %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no report reached the receiver within 10s of Report returning")
	}
	if c := s.Counters(); c.Connects != 1 {
		t.Errorf("connects = %d, want the report on the first connection", c.Connects)
	}
}
