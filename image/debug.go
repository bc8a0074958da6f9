package image

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// DebugCommands are u-root's core tools put in a debug image: a shell
// (gosh) and what it takes to look around a running camera — processes,
// kernel log, modules, network, mounts, files. They are compiled into one
// busybox-style binary, /bin/bb, with /bin/<name> links to it.
var DebugCommands = []string{
	"gosh", "ls", "cat", "dmesg", "ip", "ps", "mount", "umount", "cp", "mkdir", "rm", "echo", "more",
	"kill", "uname", "free", "df", "grep", "lsmod", "insmod", "rmmod", "ping", "netstat", "hexdump",
	"tail", "head", "sync", "wc", "date", "uptime", "pwd", "mv", "ln", "find",
}

// BuildDebugTools compiles DebugCommands for linux/arm64 with u-root's
// gobusybox (from this module's dependencies, so no download). gosh is
// built with the goshsmall tag: no tab completion, which would need a
// module camwire does not carry. About 5 MiB, 2 MiB compressed.
func BuildDebugTools(ctx context.Context) ([]byte, error) {
	dir, err := os.MkdirTemp("", "camwire-bb-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	makebb := filepath.Join(dir, "makebb")
	build := exec.CommandContext(ctx, goTool(), "build", "-o", makebb, "github.com/u-root/gobusybox/src/cmd/makebb")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build makebb: %v\n%s", err, out)
	}
	bin := filepath.Join(dir, "bb")
	args := []string{"-go-build-tags", "goshsmall", "-o", bin}
	for _, c := range DebugCommands {
		args = append(args, "github.com/u-root/u-root/cmds/core/"+c)
	}
	cmd := exec.CommandContext(ctx, makebb, args...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("makebb: %v\n%s", err, out)
	}
	return os.ReadFile(bin)
}
