//go:build !linux

package bootreport

import "errors"

// KernelLog is Linux's kernel log; elsewhere there is none to read.
func KernelLog(kmsg string) ([]string, error) {
	return nil, errors.New("no kernel log on this system (Linux only)")
}
