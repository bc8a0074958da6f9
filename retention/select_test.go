package retention

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSelect(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	f := func(name string, size int64, age time.Duration) File {
		return File{Path: name, Size: size, Time: now.Add(-age)}
	}
	// Given newest first, so Select must sort.
	files := []File{f("e", 100, 1*day), f("d", 100, 10*day), f("c", 100, 20*day), f("b", 100, 31*day), f("a", 100, 40*day)}
	del := func(fi File, why string) Deletion { return Deletion{File: fi, Reason: why} }
	tests := []struct {
		name   string
		p      Policy
		disk   Disk
		want   []Deletion
		wantAf Disk
	}{
		{"no policy", Policy{}, Disk{Used: 500, Free: 0}, nil, Disk{Used: 500, Free: 0}},
		{"age", Policy{KeepFor: 30 * day}, Disk{Used: 500},
			[]Deletion{del(files[4], "age"), del(files[3], "age")}, Disk{Used: 300, Free: 200}},
		{"age exactly at the bound stays", Policy{KeepFor: 31 * day}, Disk{Used: 500},
			[]Deletion{del(files[4], "age")}, Disk{Used: 400, Free: 100}},
		{"size: folder holds more than the files we may delete", Policy{KeepSize: 750}, Disk{Used: 1000},
			[]Deletion{del(files[4], "keep-size"), del(files[3], "keep-size"), del(files[2], "keep-size")}, Disk{Used: 700, Free: 300}},
		{"size already within", Policy{KeepSize: 1000}, Disk{Used: 1000}, nil, Disk{Used: 1000}},
		{"min-free", Policy{MinFree: 150}, Disk{Used: 500, Free: 0},
			[]Deletion{del(files[4], "min-free"), del(files[3], "min-free")}, Disk{Used: 300, Free: 200}},
		{"min-free ignored without the rule", Policy{KeepSize: 10_000}, Disk{Used: 500, Free: 0}, nil, Disk{Used: 500, Free: 0}},
		{"age first, then size", Policy{KeepFor: 35 * day, KeepSize: 250}, Disk{Used: 500},
			[]Deletion{del(files[4], "age"), del(files[3], "keep-size"), del(files[2], "keep-size")}, Disk{Used: 200, Free: 300}},
		{"everything", Policy{MinFree: 1 << 40}, Disk{Used: 500},
			[]Deletion{del(files[4], "min-free"), del(files[3], "min-free"), del(files[2], "min-free"), del(files[1], "min-free"), del(files[0], "min-free")},
			Disk{Used: 0, Free: 500}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, after := Select(tt.p, now, files, tt.disk)
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("Select deletions (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.wantAf, after); d != "" {
				t.Errorf("Select disk after (-want +got):\n%s", d)
			}
		})
	}
}

func TestSelectTiesByPath(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	files := []File{{Path: "b", Size: 1, Time: at}, {Path: "a", Size: 1, Time: at}}
	got, _ := Select(Policy{KeepSize: 1}, at, files, Disk{Used: 2})
	if d := cmp.Diff([]Deletion{{File: files[1], Reason: "keep-size"}}, got); d != "" {
		t.Errorf("Select (-want +got):\n%s", d)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"500G", 500e9, false}, {"500GB", 500e9, false}, {"500g", 500e9, false},
		{"1.5TB", 1.5e12, false}, {"200MiB", 200 << 20, false}, {"2 GiB", 2 << 30, false},
		{"10k", 10_000, false}, {"1000000", 1e6, false}, {"812B", 812, false},
		{"", 0, true}, {"G", 0, true}, {"-1G", 0, true}, {"0", 0, true}, {"5 apples", 0, true},
		{"1e30T", 0, true}, {"NaNG", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestParseAge(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"30d", 30 * 24 * time.Hour, false}, {"1.5d", 36 * time.Hour, false}, {"72h", 72 * time.Hour, false},
		{"90m", 90 * time.Minute, false}, {"0d", 0, true}, {"-3h", 0, true}, {"30", 0, true}, {"d", 0, true},
		{"1e9d", 0, true}, {"30days", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseAge(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseAge(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestPolicyString(t *testing.T) {
	tests := []struct {
		p    Policy
		want string
	}{
		{Policy{}, "keep everything"},
		{Policy{KeepFor: 30 * 24 * time.Hour}, "delete oldest recordings when older than 30d"},
		{Policy{KeepFor: 90 * time.Minute, KeepSize: 500e9, MinFree: 1.5e9},
			"delete oldest recordings when older than 1h30m0s, or over 500 GB in the folder, or under 1.5 GB free"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestStartTime(t *testing.T) {
	mtime := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		want time.Time
	}{
		{"20261124T183500Z-0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b.mp4", time.Date(2026, 11, 24, 18, 35, 0, 0, time.UTC)},
		{"garden-by-hand.mp4", mtime},
		{"20261324T183500Z-x.mp4", mtime},
	}
	for _, tt := range tests {
		if got := StartTime(tt.name, mtime); !got.Equal(tt.want) {
			t.Errorf("StartTime(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
