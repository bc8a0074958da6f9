//go:build !windows

package main

import "os"

// enableVT reports whether the terminal understands ANSI escapes; every
// terminal outside Windows does.
func enableVT(*os.File) bool { return true }
