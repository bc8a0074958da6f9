package sender

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/camwire/camwire/wire"
)

// auSize is a size class of Go's allocator, so a frame's accounted size is
// exactly auSize+recOverhead and budgets below are exact frame counts.
const auSize = 1024

func frameCost() int { return auSize + recOverhead }

func testHello() wire.Hello {
	return wire.Hello{Name: "testcam", StreamID: [16]byte{1, 2, 3}, Codec: "h264", Width: 640, Height: 360, FPSNum: 30, FPSDen: 1}
}

func newBufferSender(t *testing.T, budget int) *Sender {
	t.Helper()
	s, err := New(Config{Addr: "127.0.0.1:1", Hello: testHello(), BufferBytes: budget})
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	return s
}

// dump renders the queue: K/P frames, E segment end, G first-last/frames
// gap, all with their Seq; "|" marks the end of the written part.
func dump(s *Sender) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var parts []string
	for i := 0; i < s.q.len(); i++ {
		if i == s.wi && i > 0 {
			parts = append(parts, "|")
		}
		r := s.q.at(i)
		switch r.kind {
		case kindFrame:
			k := "P"
			if r.key {
				k = "K"
			}
			parts = append(parts, fmt.Sprintf("%s%d", k, r.seq))
		case kindSegmentEnd:
			parts = append(parts, fmt.Sprintf("E%d", r.seq))
		case kindGap:
			parts = append(parts, fmt.Sprintf("G%d-%d/%d", r.first, r.seq, r.frames))
		}
	}
	if s.wi == s.q.len() && s.wi > 0 {
		parts = append(parts, "|")
	}
	return strings.Join(parts, " ")
}

// checkInvariants verifies the bookkeeping every operation must keep: the
// queue covers acked+1..nextSeq-1 without holes, and the byte counts match.
func checkInvariants(t *testing.T, s *Sender) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	want := s.acked + 1
	used, pinned := 0, 0
	for i := 0; i < s.q.len(); i++ {
		r := s.q.at(i)
		if r.firstSeq() != want {
			t.Errorf("record %d starts at seq %d, want %d", i, r.firstSeq(), want)
		}
		want = r.seq + 1
		used += r.size()
		if i < s.wi {
			pinned += r.size()
		}
	}
	if want != s.nextSeq {
		t.Errorf("queue ends before seq %d, nextSeq = %d", want, s.nextSeq)
	}
	if used != s.used || pinned != s.pinned {
		t.Errorf("used, pinned = %d, %d; recounted %d, %d", s.used, s.pinned, used, pinned)
	}
	if s.used > s.cfg.BufferBytes && s.used > s.pinned {
		t.Errorf("used = %d over bound %d with unpinned records", s.used, s.cfg.BufferBytes)
	}
}

// script feeds a compact description to s: K keyframe, P frame, E segment
// end, W marks everything queued so far written (as gather does), B a
// frame bigger than the whole buffer.
func script(t *testing.T, s *Sender, ops string) {
	t.Helper()
	au := make([]byte, auSize)
	seg := uint32(0)
	for _, op := range strings.Fields(ops) {
		switch op {
		case "K":
			s.Frame(seg, 0, true, au)
		case "P":
			s.Frame(seg, 0, false, au)
		case "B":
			s.Frame(seg, 0, true, make([]byte, s.cfg.BufferBytes))
		case "E":
			s.EndSegment(seg, 0)
			seg++
		case "W":
			s.mu.Lock()
			for s.wi < s.q.len() {
				r := s.q.at(s.wi)
				s.wi++
				s.pinned += r.size()
				s.written = r.seq
			}
			s.mu.Unlock()
		default:
			t.Fatalf("bad script op %q", op)
		}
		checkInvariants(t, s)
	}
}

func TestDropWholeGOPs(t *testing.T) {
	tests := []struct {
		name    string
		frames  int // buffer bound in frames
		ops     string
		want    string
		dropped uint64
	}{
		{"fits", 6, "K P P K P P", "K1 P2 P3 K4 P5 P6", 0},
		{"oldest GOP goes", 6, "K P P K P P K", "G1-3/3 K4 P5 P6 K7", 3},
		{"gaps merge", 6, "K P P K P P K P P K", "G1-6/6 K7 P8 P9 K10", 6},
		{"gap absorbs the next GOP", 4, "K P K P K P P", "G1-4/4 K5 P6 P7", 4},
		{"segment end moves behind gap", 6, "K P P E K P P K", "G1-3/3 E4 K5 P6 P7 K8", 3},
		{"segment end renumbered", 6, "K E P P K P P K", "G1-3/3 E4 K5 P6 P7 K8", 3},
		{"segment ends renumbered", 6, "K E P E P K P P K", "G1-3/3 E4 E5 K6 P7 P8 K9", 3},
		{"leading segment end stays", 8, "K P P W E K P P K P", "K1 P2 P3 | E4 G5-7/3 K8 P9", 3},
		{"written frames are pinned", 6, "K P P W K P P K", "K1 P2 P3 | G4-6/3 K7", 3},
		{"tail of a written GOP", 6, "K P W P P K P K", "K1 P2 | G3-4/2 K5 P6 K7", 2},
		{"newest frames when the GOP alone overflows", 3, "K P P P", "K1 P2 G3-4/2", 2},
		{"GOP bigger than buffer keeps its head", 3, "K P P P P K P", "G1-5/5 K6 P7", 5},
		{"older GOPs first, then newest frames", 4, "K P K P P P", "G1-2/2 K3 P4 P5 G6-6/1", 3},
		{"keyframe alone overflows", 2, "K P B", "G1-3/3", 3},
		{"skip to next keyframe", 3, "K P P P P P P K P", "G1-7/7 K8 P9", 7},
		{"frame larger than buffer", 3, "K P B P K", "G1-4/4 K5", 4},
		{"gap after segment end while skipping", 3, "K P P P E P", "K1 P2 G3-4/2 E5 G6-6/1", 3},
		{"gaps merge across segment end", 3, "K P P P E P K", "G1-5/5 E6 K7", 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newBufferSender(t, tt.frames*frameCost())
			script(t, s, tt.ops)
			if got := dump(s); got != tt.want {
				t.Errorf("after %q: queue = %q, want %q", tt.ops, got, tt.want)
			}
			c := s.Counters()
			if c.Dropped != tt.dropped {
				t.Errorf("Dropped = %d, want %d", c.Dropped, tt.dropped)
			}
			if n := uint64(strings.Count(tt.ops, "K") + strings.Count(tt.ops, "P") + strings.Count(tt.ops, "B")); c.Captured != n {
				t.Errorf("Captured = %d, want %d", c.Captured, n)
			}
		})
	}
}

// TestFrameAllocs holds the hot path to one allocation: the copy of the
// access unit.
func TestFrameAllocs(t *testing.T) {
	s := newBufferSender(t, 1<<30)
	au := make([]byte, 4000)
	script(t, s, strings.Repeat("K P P P ", 300)) // grow the ring first
	allocs := testing.AllocsPerRun(1000, func() { s.Frame(0, 0, false, au) })
	if allocs > 1 {
		t.Errorf("Frame allocates %v times per call, want 1 (the copy)", allocs)
	}
}

func TestCountersString(t *testing.T) {
	c := Counters{Captured: 10, Sent: 12, Acked: 9, Dropped: 1}
	if got, want := c.String(), "captured=10 sent=12 acked=9 dropped=1"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// TestResume applies Welcome.Acked values to a queue of written records.
func TestResume(t *testing.T) {
	tests := []struct {
		name    string
		acked   uint64 // acknowledged before the reconnect
		welcome uint64
		want    string
		wantErr bool
	}{
		{"nothing stored yet", 0, 0, "K1 P2 P3 K4 P5", false},
		{"receiver had more than acked", 2, 4, "P5", false},
		{"receiver had exactly acked", 2, 2, "P3 K4 P5", false},
		{"everything stored", 0, 5, "", false},
		{"receiver lost acked records", 3, 1, "G2-3/0 K4 P5", false},
		{"receiver claims records never made", 0, 6, "K1 P2 P3 K4 P5 |", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newBufferSender(t, 1<<20)
			s.log = discardLogger()
			script(t, s, "K P P K P W")
			s.mu.Lock()
			s.freeTo(tt.acked)
			s.mu.Unlock()
			err := s.resume(tt.welcome)
			if (err != nil) != tt.wantErr {
				t.Fatalf("resume(%d) error = %v, want error %v", tt.welcome, err, tt.wantErr)
			}
			checkInvariants(t, s)
			if got := dump(s); got != tt.want {
				t.Errorf("after resume(%d): queue = %q, want %q", tt.welcome, got, tt.want)
			}
		})
	}
}

func TestReadMilliC(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		content string // "" means no file
		want    int32
		ok      bool
	}{
		{"pi", "48312\n", 48312, true},
		{"below zero", "-5000\n", -5000, true},
		{"garbage", "hot\n", 0, false},
		{"missing", "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name)
			if tt.content != "" {
				if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, ok := readMilliC(path)
			if got != tt.want || ok != tt.ok {
				t.Errorf("readMilliC(%q) = %d, %v; want %d, %v", tt.content, got, ok, tt.want, tt.ok)
			}
		})
	}
}
