package testkit

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"testing"
)

// Ports returns a port P on 127.0.0.1 such that P+off is free for every
// off in offs, on network ("tcp" or "udp"), for servers that take port
// numbers rather than a socket we could hand them (MediaMTX, SeaweedFS,
// gortsplib's RTP/RTCP pair): the ports are probed and closed, and the
// server binds them itself.
//
// That leaves a window between probe and bind. It is kept narrow by
// probing below the kernel's ephemeral range, which no one binding :0 is
// ever given: only another Ports call that picks the same random port in
// the same instant can collide. With even set, P is even (RTP's rule).
func Ports(tb testing.TB, network string, even bool, offs ...int) int {
	tb.Helper()
	top := 0
	for _, o := range offs {
		top = max(top, o)
	}
	lo, hi := 10000, ephemeralLow()-top-1
	if hi <= lo {
		tb.Fatalf("no room below the ephemeral range (%d) for ports %d apart", ephemeralLow(), top)
	}
	for range 200 {
		p := lo + rand.IntN(hi-lo)
		if even {
			p &^= 1
		}
		if probe(network, p, offs) {
			return p
		}
	}
	tb.Fatalf("no free %s ports %v on 127.0.0.1 after 200 tries", network, offs)
	return 0
}

// probe reports whether every p+off can be bound on network.
func probe(network string, p int, offs []int) bool {
	for _, o := range offs {
		addr := fmt.Sprintf("127.0.0.1:%d", p+o)
		var err error
		switch network {
		case "udp":
			var c net.PacketConn
			if c, err = net.ListenPacket(network, addr); err == nil {
				c.Close()
			}
		default:
			var l net.Listener
			if l, err = net.Listen(network, addr); err == nil {
				l.Close()
			}
		}
		if err != nil {
			return false
		}
	}
	return true
}

// TCPAddr is 127.0.0.1:P with P a free TCP port (see Ports).
func TCPAddr(tb testing.TB) string {
	tb.Helper()
	return fmt.Sprintf("127.0.0.1:%d", Ports(tb, "tcp", false, 0))
}

// UDPPair returns 127.0.0.1:P where P is even and P and P+1 are free, for
// an RTP/RTCP pair (see Ports).
func UDPPair(tb testing.TB) string {
	tb.Helper()
	return fmt.Sprintf("127.0.0.1:%d", Ports(tb, "udp", true, 0, 1))
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
