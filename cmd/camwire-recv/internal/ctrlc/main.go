//go:build windows

// Command ctrlc runs a console program the way a Windows terminal does,
// and presses Ctrl+C in it when told to: camwire-recv's Wine test runs
// camwire-recv.exe under it to deliver a real console control event
// (CTRL_C_EVENT, via GenerateConsoleCtrlEvent), not a Unix signal.
//
//	ctrlc.exe PROGRAM [ARGS...]
//
// PROGRAM shares ctrlc's stdout and stderr. Each line "ctrl-c" on stdin
// sends CTRL_C_EVENT to every process on the console; EOF on stdin kills
// PROGRAM. ctrlc exits with PROGRAM's exit code.
package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"

	"golang.org/x/sys/windows"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: ctrlc.exe PROGRAM [ARGS...]")
		os.Exit(2)
	}
	// Started from a shell without a terminal, Wine gives the process a
	// console that GenerateConsoleCtrlEvent refuses ("Invalid access").
	// A console of its own, which the child inherits, is what a terminal
	// window gives a program on Windows. The standard handles stay the
	// pipes the test reads.
	k32 := windows.NewLazySystemDLL("kernel32.dll")
	k32.NewProc("FreeConsole").Call()
	if r, _, err := k32.NewProc("AllocConsole").Call(); r == 0 {
		fmt.Fprintf(os.Stderr, "ctrlc: AllocConsole: %v\n", err)
		os.Exit(2)
	}
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "ctrlc: %v\n", err)
		os.Exit(2)
	}
	// ctrlc itself ignores Ctrl+C, but only from now on: a child inherits
	// the ignore flag, and would not see the event either.
	if r, _, err := k32.NewProc("SetConsoleCtrlHandler").Call(0, 1); r == 0 {
		fmt.Fprintf(os.Stderr, "ctrlc: SetConsoleCtrlHandler: %v\n", err)
	}
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			if sc.Text() != "ctrl-c" {
				continue
			}
			if err := windows.GenerateConsoleCtrlEvent(windows.CTRL_C_EVENT, 0); err != nil {
				fmt.Fprintf(os.Stderr, "ctrlc: GenerateConsoleCtrlEvent: %v\n", err)
			} else {
				fmt.Fprintln(os.Stderr, "ctrlc: sent CTRL_C_EVENT")
			}
		}
		cmd.Process.Kill()
	}()
	cmd.Wait()
	os.Exit(cmd.ProcessState.ExitCode())
}
