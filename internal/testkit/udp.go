package testkit

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"testing"
)

// UDPPair returns 127.0.0.1:P where P is even and P and P+1 are free, for
// an RTP/RTCP pair a server binds itself (gortsplib, MediaMTX): those
// take a port number, not a socket, so the pair is probed and closed.
// The race with other tests is kept narrow by probing below the kernel's
// ephemeral range, which no one binding :0 is ever given; only another
// UDPPair that picks the same random pair in the same instant can collide.
func UDPPair(tb testing.TB) string {
	tb.Helper()
	lo, hi := 10000, ephemeralLow()-2
	for range 200 {
		p := (lo + rand.IntN(hi-lo)) &^ 1
		a, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			continue
		}
		b, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p+1))
		a.Close()
		if err != nil {
			continue
		}
		b.Close()
		return fmt.Sprintf("127.0.0.1:%d", p)
	}
	tb.Fatal("no free even UDP port pair on 127.0.0.1")
	return ""
}

// ephemeralLow is the first port the kernel hands out for :0 (Linux's
// ip_local_port_range; IANA's 49152 elsewhere).
func ephemeralLow() int {
	var lo, hi int
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if _, err := fmt.Sscan(string(b), &lo, &hi); err == nil && lo > 10100 {
			return lo
		}
	}
	return 49152
}
