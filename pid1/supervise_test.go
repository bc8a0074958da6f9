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
	if err := s.Run(ctx); err != nil {
		res.RunErr = err.Error()
	}
	// Let the output goroutine finish (the pipe closes when the last
	// writer, possibly an orphan, is gone) — bounded, for the report only.
	time.Sleep(50 * time.Millisecond)
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

func TestSupervisorMissingBinary(t *testing.T) {
	s := &Supervisor{Path: "/nonexistent/camwire-init"}
	err := s.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/camwire-init") {
		t.Errorf("Run = %v, want an error naming the binary", err)
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
