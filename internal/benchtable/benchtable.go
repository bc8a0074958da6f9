// Package benchtable turns `go test -bench` output into the one table
// `make bench` prints: each figure next to the baseline measured in the
// same round, their ratio, the goal, and the ratio's min/median/max over
// the rounds (-count). Benchmarks report a figure and its baseline as two
// metrics of the same line, so a ratio never mixes rounds: each round
// runs camwire and its baseline back to back, and the spread across
// rounds shows how much the shared machine moved the numbers.
package benchtable

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Row is one line of the table.
type Row struct {
	Label  string // what is measured, e.g. "sender vs cat|nc, CPU/MB"
	Bench  string // benchmark name without the -GOMAXPROCS suffix
	Metric string // the figure's unit as reported
	Base   string // the baseline's unit; "" when the goal is a fixed value
	// Goal: the ratio (figure/baseline, or figure/Limit without a
	// baseline) must be ≤ Limit when !AtLeast, ≥ Limit when AtLeast.
	Limit   float64
	AtLeast bool
	Note    string // labels a synthetic or component-only figure
	// Info: no goal; the row is shown beside a goal's row for
	// comparison (e.g. the path a goal does not cover), and never fails.
	Info bool
	// Fixed, with a Base: the goal is Limit on the figure itself (an
	// absolute goal such as 0.5 cores), and the ratio to the baseline
	// measured in the same round is shown beside it, not judged.
	Fixed bool
}

// Rounds maps a benchmark name to its metrics, one map per round.
type Rounds map[string][]map[string]float64

var lineRE = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// Parse reads go test -bench output.
func Parse(r io.Reader) (Rounds, error) {
	out := Rounds{}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		m := lineRE.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		f := strings.Fields(m[2])
		metrics := map[string]float64{}
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchtable: %s: value %q: %w", m[1], f[i], err)
			}
			metrics[f[i+1]] = v
		}
		out[m[1]] = append(out[m[1]], metrics)
	}
	return out, sc.Err()
}

// Cell is one computed row.
type Cell struct {
	Row
	Rounds        int
	Fig, BaseV    float64 // medians
	Min, Med, Max float64 // of the ratio
	Met           bool
	Missing       string // why the row has no figure
}

// Compute works out each row from rounds.
func Compute(rows []Row, rs Rounds) []Cell {
	var cells []Cell
	for _, r := range rows {
		c := Cell{Row: r}
		var figs, bases, ratios []float64
		for _, m := range rs[r.Bench] {
			f, ok := m[r.Metric]
			if !ok {
				continue
			}
			ratio := f // a goal of 0 (frames lost): the figure is the ratio
			if r.Limit != 0 {
				ratio = f / r.Limit
			}
			if r.Base != "" {
				b, ok := m[r.Base]
				if !ok {
					continue
				}
				bases = append(bases, b)
				ratio = f / b
			}
			figs = append(figs, f)
			ratios = append(ratios, ratio)
		}
		if len(figs) == 0 {
			c.Missing = "not measured (benchmark skipped or failed: see its output above)"
			cells = append(cells, c)
			continue
		}
		c.Rounds = len(figs)
		c.Fig = median(figs)
		if len(bases) > 0 {
			c.BaseV = median(bases)
		}
		slices.Sort(ratios)
		c.Min, c.Med, c.Max = ratios[0], median(ratios), ratios[len(ratios)-1]
		switch {
		case r.Info:
			c.Met = true
		case r.Base == "" || r.Fixed:
			c.Met = (c.Fig <= r.Limit) != r.AtLeast || c.Fig == r.Limit
		default:
			c.Met = (c.Med <= r.Limit) != r.AtLeast || c.Med == r.Limit
		}
		cells = append(cells, c)
	}
	return cells
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// num prints a figure with three significant digits.
func num(v float64) string {
	switch a := math.Abs(v); {
	case a == 0:
		return "0"
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

// Print writes the table.
func Print(w io.Writer, cells []Cell) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tcamwire\tbaseline\tratio\tgoal\tmet\tratio min/median/max\trounds")
	for _, c := range cells {
		label := c.Label
		if c.Note != "" {
			label += " [" + c.Note + "]"
		}
		if c.Missing != "" {
			fmt.Fprintf(tw, "%s\t%s\t\t\t%s\tNO\t\t0\n", label, c.Missing, goal(c.Row))
			continue
		}
		base := "—"
		if c.Base != "" {
			base = num(c.BaseV) + " " + c.Base
		}
		met := "yes"
		switch {
		case c.Info:
			met = "—"
		case !c.Met:
			met = "NO"
		}
		fmt.Fprintf(tw, "%s\t%s %s\t%s\t%s\t%s\t%s\t%s/%s/%s\t%d\n", label, num(c.Fig), c.Metric, base,
			num(c.Med), goal(c.Row), met, num(c.Min), num(c.Med), num(c.Max), c.Rounds)
	}
	return tw.Flush()
}

func goal(r Row) string {
	if r.Info {
		return "— (for comparison)"
	}
	op := "≤"
	if r.AtLeast {
		op = "≥"
	}
	if r.Base == "" || r.Fixed {
		return fmt.Sprintf("%s %s %s", op, num(r.Limit), r.Metric)
	}
	return fmt.Sprintf("%s %s×", op, num(r.Limit))
}
