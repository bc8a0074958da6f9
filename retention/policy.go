// Package retention deletes old recordings under camwire-recv's -dir by
// the rules the user set: an age (-keep-for), a total size of the folder
// (-keep-size) and a free space to leave on its filesystem (-min-free).
// The oldest finished recording goes first. A file that is still being
// written (.partial), one a camera may still resume, one not yet uploaded
// and anything that is not a recording are never deleted.
//
// Select is the pure choice; Keeper looks at the folder, asks the holds,
// deletes, logs each deletion and removes camera folders left empty.
package retention

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Policy is what the user asked to keep. A zero field is no limit.
type Policy struct {
	KeepFor  time.Duration // delete recordings older than this
	KeepSize int64         // bytes: the whole folder stays at most this
	MinFree  int64         // bytes: the folder's filesystem keeps at least this free
}

// Zero reports whether p limits nothing.
func (p Policy) Zero() bool { return p.KeepFor <= 0 && p.KeepSize <= 0 && p.MinFree <= 0 }

// String is the policy in words for the log, e.g.
// "older than 30d, over 500 GB in the folder, under 10 GB free".
func (p Policy) String() string {
	var parts []string
	if p.KeepFor > 0 {
		parts = append(parts, "older than "+FormatAge(p.KeepFor))
	}
	if p.KeepSize > 0 {
		parts = append(parts, "over "+FormatSize(p.KeepSize)+" in the folder")
	}
	if p.MinFree > 0 {
		parts = append(parts, "under "+FormatSize(p.MinFree)+" free")
	}
	if len(parts) == 0 {
		return "keep everything"
	}
	return "delete oldest recordings when " + strings.Join(parts, ", or ")
}

// ParseAge reads -keep-for: a number of days ("30d", "1.5d") or a Go
// duration ("72h", "90m"). It must be positive.
func ParseAge(s string) (time.Duration, error) {
	var d time.Duration
	if n, ok := strings.CutSuffix(s, "d"); ok {
		f, err := strconv.ParseFloat(n, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f*24 > float64(math.MaxInt64/int64(time.Hour)) {
			return 0, fmt.Errorf("%q is not a number of days, e.g. 30d", s)
		}
		d = time.Duration(f * 24 * float64(time.Hour))
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("%q is not an age: want days (30d) or a duration (72h, 90m)", s)
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q: an age to keep must be positive", s)
	}
	return d, nil
}

// FormatAge is d in days when it is whole days, else as a Go duration.
func FormatAge(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// units are the size suffixes ParseSize takes. K, M, G, T with or
// without B are decimal, as disk makers and df -H count; KiB, MiB, GiB,
// TiB are binary.
var units = []struct {
	suffix string
	mult   float64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12},
	{"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12},
	{"B", 1}, {"", 1},
}

// ParseSize reads -keep-size and -min-free: "500G", "1.5TB", "200MiB",
// "1000000" (bytes). Suffixes are case-insensitive except that "b"
// alone means bytes too. It must be positive.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	for _, u := range units {
		if len(t) < len(u.suffix) || !strings.EqualFold(t[len(t)-len(u.suffix):], u.suffix) {
			continue
		}
		n := strings.TrimSpace(t[:len(t)-len(u.suffix)])
		f, err := strconv.ParseFloat(n, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			break
		}
		v := f * u.mult
		if v < 1 || v > math.MaxInt64/2 {
			return 0, fmt.Errorf("%q: a size must be at least one byte and below 4 EB", s)
		}
		return int64(v), nil
	}
	return 0, fmt.Errorf("%q is not a size: want e.g. 500G, 1.5TB, 200MiB", s)
}

// FormatSize is n in decimal units with one decimal, like the sizes a
// user types: "2.1 GB", "500 MB", "812 B".
func FormatSize(n int64) string {
	f := float64(n)
	for _, u := range []struct {
		name string
		mult float64
	}{{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}} {
		if f >= u.mult {
			s := strconv.FormatFloat(f/u.mult, 'f', 1, 64)
			return strings.TrimSuffix(s, ".0") + " " + u.name
		}
	}
	return fmt.Sprintf("%d B", n)
}

// Summary is a pass's deletions as one line for a person, e.g.
// "deleted 3 files, 2.1 GB, older than 30d": the console shows it where
// the log has one line per file.
func Summary(p Policy, done []Deletion) string {
	var bytes int64
	why := map[string]bool{}
	for _, d := range done {
		bytes += d.Size
		why[d.Reason] = true
	}
	var parts []string
	if why["age"] {
		parts = append(parts, "older than "+FormatAge(p.KeepFor))
	}
	if why["keep-size"] {
		parts = append(parts, "to keep the folder under "+FormatSize(p.KeepSize))
	}
	if why["min-free"] {
		parts = append(parts, "to keep "+FormatSize(p.MinFree)+" free")
	}
	files := "files"
	if len(done) == 1 {
		files = "file"
	}
	line := fmt.Sprintf("deleted %d %s, %s", len(done), files, FormatSize(bytes))
	if len(parts) > 0 {
		line += ", " + strings.Join(parts, " and ")
	}
	return line
}
