package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/camwire/camwire/demo"
	"github.com/google/go-cmp/cmp"
)

// TestDemoImage checks which image `camwire-image demo` writes: its
// own out/demo.img unless -o is given, never the card image that -o
// defaults to for build (the demo's camwire.txt would replace the
// user's settings).
func TestDemoImage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no -o", []string{"demo"}, defaultDemoImage},
		{"-o given", []string{"-o", "x/my.img", "demo"}, "x/my.img"},
		{"-o set to the card image", []string{"-o", defaultImage, "demo"}, defaultImage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got demo.Options
			c := command{demo: func(_ context.Context, o demo.Options, _, _ io.Writer) error { got = o; return nil }}
			if err := c.run(context.Background(), tc.args, io.Discard, io.Discard); err != nil {
				t.Fatal(err)
			}
			if got.Image != tc.want {
				t.Errorf("run(%q) demo image = %q, want %q", tc.args, got.Image, tc.want)
			}
		})
	}
}

// TestDemoSettings: -set and -debug reach the demo as camwire.txt
// settings, parsed as for build (empty values skipped), and a bad -set
// stops before anything is built or booted.
func TestDemoSettings(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		want    map[string]string
		wantErr string
	}{
		{"none", []string{"demo"}, map[string]string{}, ""},
		{"set", []string{"-set", "segment=2s", "-set", "name=", "-set", " fps = 15 ", "demo"},
			map[string]string{"segment": "2s", "fps": "15"}, ""},
		{"debug", []string{"-debug", "demo"}, map[string]string{"debug": "yes"}, ""},
		{"bad set", []string{"-set", "name", "demo"}, nil, "key=value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got map[string]string
			called := false
			c := command{demo: func(_ context.Context, o demo.Options, _, _ io.Writer) error {
				called, got = true, o.Settings
				return nil
			}}
			err := c.run(context.Background(), tc.args, io.Discard, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || called {
					t.Errorf("run(%q) = %v (demo called: %v), want an error mentioning %q before the demo", tc.args, err, called, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("run(%q) demo settings (-want +got):\n%s", tc.args, diff)
			}
		})
	}
}
