package main

import (
	"os"

	"golang.org/x/sys/windows"
)

// enableVT switches a Windows console to ANSI escape processing, which the
// status lines need; false means use plain log lines.
func enableVT(f *os.File) bool {
	h := windows.Handle(f.Fd())
	var mode uint32
	if err := windows.GetConsoleMode(h, &mode); err != nil {
		return false
	}
	return windows.SetConsoleMode(h, mode|windows.ENABLE_VIRTUAL_TERMINAL_PROCESSING) == nil
}
