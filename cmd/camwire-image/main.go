// Command camwire-image builds the SD card image (out/camwire.img) from
// Debian's arm64 kernel and Raspberry Pi firmware packages and a
// camwire-init binary. `camwire-image fetch` only downloads and unpacks
// the boot packages and prints where they are.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"

	"github.com/camwire/camwire/image"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := image.Main(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "camwire-image:", err)
		os.Exit(1)
	}
}
