package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunCommandLine runs camwire-init's command line in-process with
// arguments it must refuse before recording, and checks the exit status
// and what the user reads.
func TestRunCommandLine(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string // in stderr
	}{
		{"help", []string{"-help"}, 0, "usage: camwire-init [flags]"},
		{"unknown flag", []string{"-no-such-flag"}, 2, "flag provided but not defined: -no-such-flag"},
		{"unexpected argument", []string{"record"}, 2, `camwire-init: unexpected arguments ["record"]`},
		{"missing cmdline file", []string{"-kernel-cmdline", filepath.Join(t.TempDir(), "none")}, 2, "camwire-init: open "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			err := run(context.Background(), tc.args, &stdout, &stderr)
			if got := exitCode(err, &stderr); got != tc.wantCode {
				t.Errorf("run(%q) = %v: exit status %d, want %d", tc.args, err, got, tc.wantCode)
			}
			if !strings.Contains(stderr.String(), tc.wantErr) {
				t.Errorf("run(%q) stderr lacks %q:\n%s", tc.args, tc.wantErr, stderr.String())
			}
			if n := strings.Count(stderr.String(), "flag provided but not defined"); n > 1 {
				t.Errorf("run(%q) stderr says the flag error %d times:\n%s", tc.args, n, stderr.String())
			}
			if stdout.Len() > 0 {
				t.Errorf("run(%q) printed to stdout before recording: %q", tc.args, stdout.String())
			}
		})
	}
}

// TestExitCode: a recorder failure is status 1 and is printed.
func TestExitCode(t *testing.T) {
	var stderr strings.Builder
	if got := exitCode(errors.New("capture: no camera"), &stderr); got != 1 {
		t.Errorf("exitCode(recorder error) = %d, want 1", got)
	}
	if want := "camwire-init: capture: no camera\n"; stderr.String() != want {
		t.Errorf("stderr = %q, want %q", stderr.String(), want)
	}
}
