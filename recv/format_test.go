package recv

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/camwire/camwire/recv/recvtest"
	"github.com/camwire/camwire/sink"
)

// altSink stores like Annex-B under another extension: a second file
// format, as -format mp4 is to -format h264.
type altSink struct{ sink.Sink }

func (altSink) Ext() string { return ".alt" }

// TestFormatChangeOnResume: camwire-recv restarted with another -format
// while a segment is open. The new sink cannot append to the old file, so
// the old one stays as written and the segment continues in a new file:
// acknowledgements go on (the camera's buffer does not fill) and the two
// files hold the segment's bytes once, in order.
func TestFormatChangeOnResume(t *testing.T) {
	for _, tc := range []struct {
		name          string
		before, after sink.Sink
	}{
		{"h264 to another format", sink.NewAnnexB(), altSink{sink.NewAnnexB()}},
		{"another format to h264", altSink{sink.NewAnnexB()}, sink.NewAnnexB()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			st := recvtest.Script("cam", 11, 2, 40, 4000, false, false)
			camDir, old := cutInFirstSegment(t, dir, st, func(s *Server) { s.Sink = tc.before })
			oldBytes, _ := os.ReadFile(old)

			ts := startServer(t, dir, func(s *Server) { s.Sink = tc.after })
			res, err := st.Run(ts.dial(t), 10*time.Second)
			if err != nil {
				t.Fatalf("resume: %v (acked %d of %d)", err, res.Acked, st.Last())
			}
			if !strings.Contains(ts.logs.String(), "started in another file format") {
				t.Errorf("log does not say why the segment moved to a new file:\n%s", ts.logs)
			}
			ts.stop(t)

			if got, _ := os.ReadFile(old); !bytes.Equal(got, oldBytes) {
				t.Errorf("the old file changed: %d bytes, was %d", len(got), len(oldBytes))
			}
			files := finished(t, camDir, tc.after.Ext())
			want := st.Want()
			if len(files) != len(want) {
				t.Fatalf("finished %s files %v, want %d", tc.after.Ext(), files, len(want))
			}
			for i, f := range files {
				got, _ := os.ReadFile(f)
				if i == 0 {
					got = append(oldBytes, got...)
				}
				if !bytes.Equal(got, want[i]) {
					t.Errorf("segment %d: %d bytes, want %d; first difference at %d", i, len(got), len(want[i]), firstDiff(got, want[i]))
				}
			}
		})
	}
}
