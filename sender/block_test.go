package sender

import (
	"strings"
	"testing"

	"github.com/camwire/camwire/segment"
)

// blockSize is the size of the test blocks: frames are small slices of
// them, so what the buffer counts is visibly the blocks, not the frames.
const blockSize = 4096

// blockFrames queues frames that lie in shared blocks, as the recorder
// does with the exec source's AUs: "aK aP bP" is a keyframe and a frame
// in block a, then a frame in block b (blocks made on first use), "xK"
// and "xP" a keyframe and a frame copied by Frame, "W" marks all written.
func blockFrames(t *testing.T, s *Sender, blocks map[byte]*segment.Block, ops string) {
	t.Helper()
	for _, op := range strings.Fields(ops) {
		if op == "W" {
			script(t, s, "W")
			continue
		}
		key := op[1] == 'K'
		if op[0] == 'x' {
			s.Frame(0, 0, key, make([]byte, auSize))
			checkInvariants(t, s)
			continue
		}
		b := blocks[op[0]]
		if b == nil {
			b = segment.NewBlock(blockSize)
			blocks[op[0]] = b
		}
		b.Retain() // the frame's reference, handed to the sender
		s.FrameAU(0, segment.AU{Data: b.Bytes()[:100], Key: key, Block: b})
		checkInvariants(t, s)
	}
}

// TestBlockAccounting: a block counts in full, once, however many frames
// of it are queued, until the last of them is acknowledged; then the
// sender lets go of its references. A frame of other memory between two
// of one block makes it count twice, never less than once.
func TestBlockAccounting(t *testing.T) {
	s := newBufferSender(t, 1<<20)
	bl := map[byte]*segment.Block{}
	blockFrames(t, s, bl, "aK aP aP bP bP W")
	used := func() int { return s.Counters().BufferUsed }
	if got, want := used(), 2*blockSize+5*recOverhead; got != want {
		t.Errorf("5 frames in 2 blocks: BufferUsed = %d, want %d", got, want)
	}
	steps := []struct {
		ack                uint64
		used, aRefs, bRefs int
	}{
		{2, 2*blockSize + 3*recOverhead, 2, 3}, // a still has frame 3
		{3, blockSize + 2*recOverhead, 1, 3},   // a is the test's alone
		{5, 0, 1, 1},
	}
	for _, st := range steps {
		s.mu.Lock()
		s.freeTo(st.ack)
		s.mu.Unlock()
		checkInvariants(t, s)
		if got := used(); got != st.used {
			t.Errorf("acked %d: BufferUsed = %d, want %d", st.ack, got, st.used)
		}
		if a, b := bl['a'].Refs(), bl['b'].Refs(); a != st.aRefs || b != st.bRefs {
			t.Errorf("acked %d: block refs a=%d b=%d, want %d %d", st.ack, a, b, st.aRefs, st.bRefs)
		}
	}

	s = newBufferSender(t, 1<<20)
	blockFrames(t, s, map[byte]*segment.Block{}, "aK xP aP")
	if got, want := s.Counters().BufferUsed, 2*blockSize+auSize+3*recOverhead; got != want {
		t.Errorf("block, copy, same block: BufferUsed = %d, want %d (the block twice)", got, want)
	}
}

// TestDropBlocks: the overflow rule drops by what it really frees. Frames
// before a keyframe in the same block free nothing while the keyframe
// stays, so the cut moves on; a block whose first frames go but whose
// run goes on stays counted, by the frame that is now its first.
func TestDropBlocks(t *testing.T) {
	bound := 2*blockSize + 10*recOverhead
	tests := []struct {
		name string
		ops  string
		want string
		used int
		refs string // blocks' Refs after, the test's own included
	}{
		{"keyframe shares the oldest GOP's block", "aK aP aP aK bP bP cK",
			"G1-6/6 K7", blockSize + 2*recOverhead, "a1 b1 c2"},
		{"dropped run goes on past the cut", "aK aP bP bK bP cK",
			"G1-3/3 K4 P5 K6", 2*blockSize + 4*recOverhead, "a1 b3 c2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newBufferSender(t, bound)
			s.copyAbove = blockSize // a bound of two blocks, kept in blocks
			bl := map[byte]*segment.Block{}
			blockFrames(t, s, bl, tt.ops)
			if got := dump(s); got != tt.want {
				t.Errorf("queue = %q, want %q", got, tt.want)
			}
			if got := s.Counters().BufferUsed; got != tt.used {
				t.Errorf("BufferUsed = %d, want %d", got, tt.used)
			}
			var refs []string
			for _, name := range []byte("abc") {
				refs = append(refs, string(name)+string(rune('0'+bl[name].Refs())))
			}
			if got := strings.Join(refs, " "); got != tt.refs {
				t.Errorf("block refs %s, want %s", got, tt.refs)
			}
		})
	}
}

// TestFrameAUAllocs: taking an access unit over allocates nothing.
func TestFrameAUAllocs(t *testing.T) {
	s := newBufferSender(t, 1<<30)
	b := segment.NewBlock(blockSize)
	for i := 0; i < 1200; i++ { // grow the ring first
		b.Retain()
		s.FrameAU(0, segment.AU{Data: b.Bytes()[:100], Key: i%30 == 0, Block: b})
	}
	allocs := testing.AllocsPerRun(1000, func() {
		b.Retain()
		s.FrameAU(0, segment.AU{Data: b.Bytes()[:100], Block: b})
	})
	if allocs != 0 {
		t.Errorf("FrameAU allocates %v times per call, want 0", allocs)
	}
	if got, want := s.Counters().BufferUsed, blockSize+s.q.len()*recOverhead; got != want {
		t.Errorf("one block under %d frames: BufferUsed = %d, want %d", s.q.len(), got, want)
	}
}
