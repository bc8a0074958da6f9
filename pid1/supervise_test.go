package pid1

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sys/unix"
)

// The supervisor reaps with Wait4(-1), which would steal the exit status
// of any other child of the test binary. So each case runs in a fresh
// copy of the test binary that makes itself a child subreaper
// (PR_SET_CHILD_SUBREAPER): orphans then come to it as they would to PID 1.
func TestMain(m *testing.M) {
	if mode := os.Getenv("PID1_SUPERVISOR_HELPER"); mode != "" {
		os.Exit(supervisorHelper(mode))
	}
	if os.Getenv("PID1_SHELL_HELPER") != "" {
		os.Exit(shellHelper())
	}
	if os.Getenv("PID1_HELD_CHILD") != "" {
		os.Exit(heldChild())
	}
	os.Exit(m.Run())
}

type helperResult struct {
	Exits   []string // OnExit errors ("" for clean)
	Lines   []string
	Orphans int
	Zombies int // children of the helper still unreaped at the end
	RunErr  string
}

func supervisorHelper(mode string) int {
	if mode == "missing" {
		return missingHelper()
	}
	if mode == "retry" {
		return retryHelper()
	}
	if mode == "wait-orphans" {
		return waitOrphansHelper()
	}
	if mode == "held" {
		return heldHelper()
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "prctl:", err)
		return 2
	}
	var mu sync.Mutex
	var res helperResult
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &Supervisor{Path: "/bin/sh", RestartDelay: time.Hour, StopTimeout: 300 * time.Millisecond}
	done := func() bool { // both events seen in mode "orphan"
		return len(res.Exits) > 0 && res.Orphans > 0
	}
	s.OnExit = func(err error) {
		mu.Lock()
		defer mu.Unlock()
		e := ""
		if err != nil {
			e = err.Error()
		}
		res.Exits = append(res.Exits, e)
		if mode != "orphan" || done() {
			cancel()
		}
	}
	s.OnReap = func(pid int, ws unix.WaitStatus) {
		mu.Lock()
		defer mu.Unlock()
		res.Orphans++
		if mode == "orphan" && done() {
			cancel()
		}
	}
	s.OnLine = func(line string) {
		mu.Lock()
		defer mu.Unlock()
		res.Lines = append(res.Lines, line)
		if line == "ready" {
			cancel() // shutdown request while the recorder runs
		}
	}
	switch mode {
	case "orphan":
		// The inner sh's status reaches its parent's wait (the recorder's
		// exec.Cmd.Wait in real life); the backgrounded sleep is orphaned.
		s.Args = []string{"-c", `sh -c "exit 7"; echo inner=$?; sleep 0.2 & exit 3`}
	case "term":
		s.Args = []string{"-c", `trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.05; done`}
	case "kill":
		s.Args = []string{"-c", `trap '' TERM; echo ready; sleep 30`}
	}
	// Run returns once the recorder's output is copied to the end: every
	// line is in res.Lines.
	if err := s.Run(ctx); err != nil {
		res.RunErr = err.Error()
	}
	res.Zombies = ReapOrphans()
	mu.Lock()
	json.NewEncoder(os.Stdout).Encode(res)
	mu.Unlock()
	return 0
}

func runHelper(t *testing.T, mode string) helperResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PID1_SUPERVISOR_HELPER="+mode)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper %s: %v; output %s", mode, err, out)
	}
	var res helperResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("helper %s output %q: %v", mode, out, err)
	}
	return res
}

func TestSupervisorReapsOrphansAndKeepsChildStatus(t *testing.T) {
	res := runHelper(t, "orphan")
	if res.RunErr != "" {
		t.Fatalf("Run = %s", res.RunErr)
	}
	if len(res.Exits) != 1 || res.Exits[0] != "exited with status 3" {
		t.Errorf("recorder exits = %q, want [exited with status 3]", res.Exits)
	}
	if !contains(res.Lines, "inner=7") {
		t.Errorf("lines = %q, want inner=7: a grandchild's status must reach its own parent", res.Lines)
	}
	if res.Orphans < 1 {
		t.Errorf("orphans reaped = %d, want ≥ 1 (the backgrounded sleep)", res.Orphans)
	}
	if res.Zombies != 0 {
		t.Errorf("%d children left unreaped after Run", res.Zombies)
	}
}

func TestSupervisorStopsRecorderWithSIGTERM(t *testing.T) {
	res := runHelper(t, "term")
	if len(res.Exits) != 1 || res.Exits[0] != "" {
		t.Errorf("recorder exits = %q, want one clean exit", res.Exits)
	}
	if !contains(res.Lines, "got-term") {
		t.Errorf("lines = %q, want got-term (SIGTERM reached the recorder)", res.Lines)
	}
}

func TestSupervisorKillsRecorderIgnoringSIGTERM(t *testing.T) {
	res := runHelper(t, "kill")
	if len(res.Exits) != 1 || res.Exits[0] != "killed by signal killed" {
		t.Errorf("recorder exits = %q, want [killed by signal killed]", res.Exits)
	}
}

// missingHelper runs a Supervisor whose recorder cannot start, then, as
// PID 1 does with the debug shell, starts another child after Ready and
// reports whether the Supervisor reaped it.
func missingHelper() int {
	var res helperResult
	err := func() error {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("prctl: %v", err)
		}
		exits := make(chan error, 10)
		reaped := make(chan int, 10)
		s := &Supervisor{Path: "/nonexistent/camwire-init", RestartDelay: time.Hour, Ready: make(chan struct{}),
			OnExit: func(err error) { exits <- err },
			OnReap: func(pid int, _ unix.WaitStatus) { reaped <- pid },
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		runErr := make(chan error, 1)
		go func() { runErr <- s.Run(ctx) }()
		<-s.Ready
		timeout := time.After(10 * time.Second)
		select {
		case err := <-exits:
			if err != nil {
				res.Exits = append(res.Exits, err.Error())
			} else {
				res.Exits = append(res.Exits, "")
			}
		case err := <-runErr:
			return fmt.Errorf("Run returned %v before its context ended", err)
		case <-timeout:
			return fmt.Errorf("no OnExit for the recorder that cannot start")
		}
		// The debug shell's part: a child that ends at once.
		cmd := exec.Command("/bin/sh", "-c", "exit 0")
		if err := cmd.Start(); err != nil {
			return err
		}
		pid := cmd.Process.Pid
		cmd.Process.Release()
		for done := false; !done; {
			select {
			case p := <-reaped:
				if p == pid {
					res.Orphans++
					done = true
				}
			case err := <-runErr:
				return fmt.Errorf("Run returned %v before its context ended, child %d not reaped", err, pid)
			case <-timeout:
				res.Zombies = zombieChildren()
				return fmt.Errorf("child %d started after Ready not reaped within 10s", pid)
			}
		}
		res.Zombies = zombieChildren()
		cancel()
		if err := <-runErr; err != nil {
			res.RunErr = err.Error()
		}
		return nil
	}()
	if err != nil {
		res.Lines = append(res.Lines, "error: "+err.Error())
	}
	json.NewEncoder(os.Stdout).Encode(res)
	return 0
}

// TestSupervisorMissingBinary: a recorder that cannot start is reported
// (OnExit, and Run's error once its context ends), and the Supervisor
// still reaps PID 1's other children, such as the debug shell, instead of
// returning and leaving them zombies.
func TestSupervisorMissingBinary(t *testing.T) {
	res := runHelper(t, "missing")
	for _, l := range res.Lines {
		t.Error(l)
	}
	if len(res.Exits) != 1 || !strings.Contains(res.Exits[0], "/nonexistent/camwire-init") {
		t.Errorf("OnExit errors = %q, want one naming the binary", res.Exits)
	}
	if res.Orphans != 1 || res.Zombies != 0 {
		t.Errorf("child started after Ready: reaped %d, zombies %d; want reaped 1, zombies 0", res.Orphans, res.Zombies)
	}
	if !strings.Contains(res.RunErr, "/nonexistent/camwire-init") {
		t.Errorf("Run = %q after cancel, want an error naming the binary", res.RunErr)
	}
}

// retryHelper runs a Supervisor whose recorder cannot start, with a
// short RestartDelay, until it has tried five times.
func retryHelper() int {
	var res helperResult
	var mu sync.Mutex
	exits := make(chan error, 10)
	s := &Supervisor{Path: "/nonexistent/camwire-init", RestartDelay: 5 * time.Millisecond,
		OnExit: func(err error) { exits <- err },
		Logf: func(format string, args ...any) {
			mu.Lock()
			res.Lines = append(res.Lines, fmt.Sprintf(format, args...))
			mu.Unlock()
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(ctx) }()
	for range 5 {
		if err := <-exits; err != nil {
			res.Exits = append(res.Exits, err.Error())
		}
	}
	cancel()
	if err := <-runErr; err != nil {
		res.RunErr = err.Error()
	}
	mu.Lock()
	json.NewEncoder(os.Stdout).Encode(res)
	mu.Unlock()
	return 0
}

// TestSupervisorRetriesStart: a recorder that cannot start is tried again
// (a shortage of memory passes), each pause twice the last.
func TestSupervisorRetriesStart(t *testing.T) {
	res := runHelper(t, "retry")
	if len(res.Exits) != 5 {
		t.Fatalf("OnExit errors = %q, want 5 (one a try)", res.Exits)
	}
	var pauses []string
	for _, l := range res.Lines {
		if _, p, ok := strings.Cut(l, "(trying again in "); ok {
			pauses = append(pauses, strings.TrimSuffix(p, ")"))
		}
	}
	if got := strings.Join(pauses[:min(5, len(pauses))], " "); got != "5ms 10ms 20ms 40ms 80ms" {
		t.Errorf("pauses between tries = %s, want 5ms 10ms 20ms 40ms 80ms; log:\n%s", got, strings.Join(res.Lines, "\n"))
	}
	if !strings.Contains(res.RunErr, "/nonexistent/camwire-init") {
		t.Errorf("Run = %q after cancel, want the last start error", res.RunErr)
	}
}

// waitOrphansHelper plays PID 1's shutdown: a shell leaves two
// background jobs as orphans and exits; WaitOrphans must reap all three
// and find no child left. Then an orphan that outlives the bound: the
// wait ends with an error instead of holding the power off.
func waitOrphansHelper() int {
	var res helperResult
	err := func() error {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("prctl: %v", err)
		}
		cmd := exec.Command("/bin/sh", "-c", "sleep 0.1 & sleep 0.2 & exit 0")
		if err := cmd.Start(); err != nil {
			return err
		}
		cmd.Process.Release() // reaped by WaitOrphans, as PID 1's children are
		n, err := WaitOrphans(20 * time.Second)
		if err != nil {
			return fmt.Errorf("WaitOrphans: %v", err)
		}
		res.Orphans = n
		if _, err := unix.Wait4(-1, nil, unix.WNOHANG, nil); err != unix.ECHILD {
			return fmt.Errorf("after WaitOrphans wait4 = %v, want ECHILD (no child left)", err)
		}

		stuck := exec.Command("/bin/sleep", "30")
		if err := stuck.Start(); err != nil {
			return err
		}
		if _, err := WaitOrphans(50 * time.Millisecond); err == nil {
			res.Lines = append(res.Lines, "error: WaitOrphans with a child still running returned no error")
		} else {
			res.Lines = append(res.Lines, err.Error())
		}
		stuck.Process.Kill()
		stuck.Wait()
		res.Zombies = zombieChildren()
		return nil
	}()
	if err != nil {
		res.RunErr = err.Error()
	}
	json.NewEncoder(os.Stdout).Encode(res)
	return 0
}

// TestWaitOrphans: at shutdown PID 1 drains every orphan, and a process
// that will not end cannot hold the shutdown.
func TestWaitOrphans(t *testing.T) {
	res := runHelper(t, "wait-orphans")
	if res.RunErr != "" {
		t.Fatal(res.RunErr)
	}
	if res.Orphans != 3 {
		t.Errorf("WaitOrphans reaped %d, want 3 (the shell and its two background jobs)", res.Orphans)
	}
	if len(res.Lines) != 1 || !strings.Contains(res.Lines[0], "still running after 50ms") {
		t.Errorf("WaitOrphans with a running child: %q, want an error saying children still run", res.Lines)
	}
	if res.Zombies != 0 {
		t.Errorf("%d zombies left", res.Zombies)
	}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// heldChild is the recorder of heldHelper: it prints what HeldArgs
// returns, its command line, and whether ArgsEnv is still set.
func heldChild() int {
	args, held, err := HeldArgs()
	_, envLeft := os.LookupEnv(ArgsEnv)
	json.NewEncoder(os.Stdout).Encode(heldResult{Args: args, Held: held, Err: fmt.Sprint(err), Argv: os.Args[1:], EnvLeft: envLeft})
	return 0
}

type heldResult struct {
	Args    []string
	Held    bool
	Err     string
	Argv    []string
	EnvLeft bool
}

// heldHelper starts a Supervisor with Settled before its Args are set,
// as PID 1's modules step does, then sets them and closes Settled; it
// prints the child's one line.
func heldHelper() int {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "prctl:", err)
		return 2
	}
	settled := make(chan struct{})
	lines := make(chan string, 10)
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "PID1_SUPERVISOR_HELPER=") {
			env = append(env, e)
		}
	}
	s := &Supervisor{Path: os.Args[0], Env: append(env, "PID1_HELD_CHILD=1"), Settled: settled,
		RestartDelay: time.Hour, StopTimeout: 300 * time.Millisecond, Ready: make(chan struct{}),
		OnLine: func(l string) { lines <- l }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	<-s.Ready
	s.Args = []string{"-config", "/boot/camwire.txt", "", "two words", "new\nline"}
	close(settled)
	select {
	case l := <-lines:
		fmt.Println(l)
	case <-time.After(10 * time.Second):
		fmt.Println("no line from the child")
	}
	cancel()
	<-done
	return 0
}

// TestSupervisorHandsHeldArgs: a recorder started before its arguments
// are known gets them, exactly, once Settled is closed, and neither its
// command line nor its environment keeps the hand-over.
func TestSupervisorHandsHeldArgs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PID1_SUPERVISOR_HELPER=held")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v; output %s", err, out)
	}
	var got heldResult
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("helper output %q: %v", out, err)
	}
	want := heldResult{Args: []string{"-config", "/boot/camwire.txt", "", "two words", "new\nline"}, Held: true, Err: "<nil>", Argv: []string{}}
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("child saw (-want +got):\n%s", diff)
	}
}

// TestHeldArgsNotHeld: a recorder started the usual way reads nothing.
func TestHeldArgsNotHeld(t *testing.T) {
	t.Setenv(ArgsEnv, "")
	os.Unsetenv(ArgsEnv)
	if args, held, err := HeldArgs(); held || err != nil || args != nil {
		t.Errorf("HeldArgs() = %q, %v, %v; want nothing without %s", args, held, err, ArgsEnv)
	}
}
