package benchtable

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const sample = `goos: linux
BenchmarkSenderCPU/clip-2   	       1	8903396196 ns/op	         3.0 ms-cpu/MB	         2.0 ms-cpu/MB-nc
BenchmarkSenderCPU/clip-2   	       1	8903396196 ns/op	         2.0 ms-cpu/MB	         2.0 ms-cpu/MB-nc
BenchmarkSenderCPU/clip-2   	       1	8903396196 ns/op	         4.0 ms-cpu/MB	         1.0 ms-cpu/MB-nc
BenchmarkCameras/128-2   	       1	1 ns/op	         0.25 cpu-cores	         0.1 cpu-cores-copy	         3 frames-lost
BenchmarkSink/x   	       1	1 ns/op	         300 MB/cpu-s	         1000 MB/cpu-s-annexb	         200 MB/cpu-s-scan
PASS
`

// TestCompute: each round's ratio is its own figure over its own
// baseline (never the medians' ratio), goals hold or not by the median,
// a fixed goal of 0 compares the figure itself, a Fixed goal with a
// baseline judges the figure and shows the ratio (2.5× yet met), and a benchmark that
// reported nothing says so.
func TestCompute(t *testing.T) {
	rs, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	rows := []Row{
		{Label: "sender", Bench: "BenchmarkSenderCPU/clip", Metric: "ms-cpu/MB", Base: "ms-cpu/MB-nc", Limit: 1.2},
		{Label: "cores", Bench: "BenchmarkCameras/128", Metric: "cpu-cores", Limit: 0.5},
		{Label: "cores vs copy", Bench: "BenchmarkCameras/128", Metric: "cpu-cores", Base: "cpu-cores-copy", Limit: 0.5, Fixed: true},
		{Label: "lost", Bench: "BenchmarkCameras/128", Metric: "frames-lost", Limit: 0},
		{Label: "sink", Bench: "BenchmarkSink/x", Metric: "MB/cpu-s", Base: "MB/cpu-s-annexb", Limit: 0.8, AtLeast: true},
		{Label: "sink scan", Bench: "BenchmarkSink/x", Metric: "MB/cpu-s-scan", Base: "MB/cpu-s-annexb", Info: true},
		{Label: "gone", Bench: "BenchmarkGone", Metric: "s", Limit: 1},
	}
	type got struct {
		Label         string
		Rounds        int
		Fig, Base     float64
		Min, Med, Max float64
		Met           bool
		Missing       bool
	}
	var gots []got
	for _, c := range Compute(rows, rs) {
		gots = append(gots, got{c.Label, c.Rounds, c.Fig, c.BaseV, c.Min, c.Med, c.Max, c.Met, c.Missing != ""})
	}
	want := []got{
		{"sender", 3, 3, 2, 1, 1.5, 4, false, false},
		{"cores", 1, 0.25, 0, 0.5, 0.5, 0.5, true, false},
		{"cores vs copy", 1, 0.25, 0.1, 2.5, 2.5, 2.5, true, false},
		{"lost", 1, 3, 0, 3, 3, 3, false, false},
		{"sink", 1, 300, 1000, 0.3, 0.3, 0.3, false, false},
		{"sink scan", 1, 200, 1000, 0.2, 0.2, 0.2, true, false}, // no goal: never fails
		{"gone", 0, 0, 0, 0, 0, 0, false, true},
	}
	if d := cmp.Diff(want, gots); d != "" {
		t.Errorf("Compute (-want +got):\n%s", d)
	}
	var b strings.Builder
	if err := Print(&b, Compute(rows, rs)); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "1.00/1.50/4.00") || !strings.Contains(b.String(), "— (for comparison)") || !strings.Contains(b.String(), "≤ 0.5 cpu-cores") || strings.Count(b.String(), "\n") != len(rows)+1 {
		t.Errorf("table:\n%s", b.String())
	}
}
