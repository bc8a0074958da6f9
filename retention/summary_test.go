package retention

import (
	"testing"
	"time"
)

func TestSummary(t *testing.T) {
	p := Policy{KeepFor: 30 * 24 * time.Hour, KeepSize: 500e9, MinFree: 10e9}
	for _, tc := range []struct {
		name string
		done []Deletion
		want string
	}{
		{"age", []Deletion{{File: File{Size: 1e9}, Reason: "age"}, {File: File{Size: 1.1e9}, Reason: "age"}, {File: File{Size: 0}, Reason: "age"}},
			"deleted 3 files, 2.1 GB, older than 30d"},
		{"one for size", []Deletion{{File: File{Size: 5e6}, Reason: "keep-size"}},
			"deleted 1 file, 5 MB, to keep the folder under 500 GB"},
		{"age and free", []Deletion{{File: File{Size: 1e9}, Reason: "min-free"}, {File: File{Size: 1e9}, Reason: "age"}},
			"deleted 2 files, 2 GB, older than 30d and to keep 10 GB free"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Summary(p, tc.done); got != tc.want {
				t.Errorf("Summary = %q, want %q", got, tc.want)
			}
		})
	}
}
