package testkit

import (
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netns"
)

// NewNetns makes an empty network namespace (only lo) and closes it when
// the test ends, which destroys it and its links. The calling goroutine
// stays in its own namespace; work in the new one goes through handles
// (netlink.NewHandleAt) or a thread of its own. It skips without root.
func NewNetns(tb testing.TB) netns.NsHandle {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root to create network namespaces (make test runs as root)")
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		tb.Fatalf("netns.Get: %v", err)
	}
	defer orig.Close()
	ns, err := netns.New() // moves this thread into ns
	if err != nil {
		runtime.UnlockOSThread()
		tb.Skipf("cannot create a network namespace: %v", err)
	}
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: Go retires it with the goroutine.
		tb.Fatalf("netns.Set back: %v", err)
	}
	runtime.UnlockOSThread()
	tb.Cleanup(func() { ns.Close() })
	return ns
}
