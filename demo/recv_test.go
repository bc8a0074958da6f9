package demo

import (
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/camwire/camwire/internal/syncbuf"
	"github.com/camwire/camwire/internal/testkit"
	"github.com/camwire/camwire/wire"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// TestListenRecvTwice: two demos on one machine get two receivers; the
// one that finds camwire's usual port taken says so and listens on a
// port the kernel chose, and the address each returns is the one it
// listens on.
func TestListenRecvTwice(t *testing.T) {
	bin := testkit.Build(t, testkit.Recv)
	// Hold the usual port, as a first demo (or a user's receiver) would.
	usual := "127.0.0.1:" + strconv.Itoa(wire.DefaultPort)
	if ln, err := net.Listen("tcp", usual); err == nil {
		defer ln.Close()
	}
	var out syncbuf.Buffer
	r, err := listenRecv(bin, t.TempDir(), &out)
	if err != nil {
		t.Fatalf("listenRecv: %v\n%s", err, out.String())
	}
	defer r.stop()
	if r.addr == usual || !strings.HasPrefix(r.addr, "127.0.0.1:") {
		t.Errorf("addr = %q, want 127.0.0.1 and a port other than %d", r.addr, wire.DefaultPort)
	}
	if !strings.Contains(out.String(), "camwire-recv on a free port instead") {
		t.Errorf("output does not say the usual port was taken:\n%s", out.String())
	}
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatalf("dial the returned address %s: %v", r.addr, err)
	}
	c.Close()
}
