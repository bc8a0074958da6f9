// Command camwire-init is the camera's whole userland. Started by the
// kernel as PID 1 it boots the Pi (package pid1) and supervises the
// recorder; started any other way it is only the recorder (package
// recorder), configured by flags named like the camwire.txt keys.
package main

import (
	"context"
	"os"

	"github.com/camwire/camwire/pid1"
	"github.com/camwire/camwire/recorder"
)

func main() {
	if os.Getpid() == 1 {
		(&pid1.Init{}).Run() // never returns
	}
	os.Exit(recorder.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
