package image

import (
	"context"
	"io"
	"testing"
)

// TestMainDemoImage checks which image `camwire-image demo` writes: its
// own out/demo.img unless -o is given, never the card image that -o
// defaults to for build (the demo's camwire.txt would replace the
// user's settings).
func TestMainDemoImage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no -o", []string{"demo"}, DefaultDemoImage},
		{"-o given", []string{"-o", "x/my.img", "demo"}, "x/my.img"},
		{"-o set to the card image", []string{"-o", DefaultImage, "demo"}, DefaultImage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got DemoOptions
			old := runDemo
			runDemo = func(_ context.Context, o DemoOptions, _, _ io.Writer) error { got = o; return nil }
			t.Cleanup(func() { runDemo = old })
			if err := Main(context.Background(), tc.args, io.Discard, io.Discard); err != nil {
				t.Fatal(err)
			}
			if got.Image != tc.want {
				t.Errorf("Main(%q) demo image = %q, want %q", tc.args, got.Image, tc.want)
			}
		})
	}
}
