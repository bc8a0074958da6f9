package bootpkg

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDependencyNames(t *testing.T) {
	for _, tc := range []struct {
		field string
		want  []string
	}{
		{"libbsd0 (>= 0.2.0), libc6 (>= 2.34)", []string{"libbsd0", "libc6"}},
		// dash: Pre-Depends then Depends, as FetchPackages joins them.
		{"libc6 (>= 2.34), debianutils (>= 5.6-0.1), dpkg (>= 1.19.1)", []string{"libc6", "debianutils", "dpkg"}},
		{"libfoo1:any | libbar1, libc6(>=2.34), libc6", []string{"libfoo1", "libc6"}},
		{"libc6, ", []string{"libc6"}},
		{"", nil},
	} {
		if diff := cmp.Diff(tc.want, dependencyNames(tc.field)); diff != "" {
			t.Errorf("dependencyNames(%q) (-want +got):\n%s", tc.field, diff)
		}
	}
}
