package retention

import (
	"cmp"
	"slices"
	"time"
)

// File is a finished recording that may be deleted: no hold keeps it.
type File struct {
	Path string
	Size int64
	Time time.Time // when its recording started: the name's time, else mtime
}

// Disk is the state the size rules compare against.
type Disk struct {
	Used int64 // bytes of every file under the folder, deletable or not
	Free int64 // bytes free on its filesystem; ignored when MinFree is 0
}

// Deletion is a file Select chose and the rule that chose it.
type Deletion struct {
	File
	Reason string // "age", "keep-size" or "min-free"
}

// Select returns the files p deletes from files, oldest first, and the
// disk state after deleting them. Each file goes only while a rule still
// asks: older than KeepFor, the folder over KeepSize, or less than
// MinFree free. Files younger than the first one kept are kept too (the
// rules only ask less once a file is kept), so the order is strictly
// oldest first.
func Select(p Policy, now time.Time, files []File, d Disk) ([]Deletion, Disk) {
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b File) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Path, b.Path))
	})
	var out []Deletion
	for _, f := range files {
		var why string
		switch {
		case p.KeepFor > 0 && now.Sub(f.Time) > p.KeepFor:
			why = "age"
		case p.KeepSize > 0 && d.Used > p.KeepSize:
			why = "keep-size"
		case p.MinFree > 0 && d.Free < p.MinFree:
			why = "min-free"
		default:
			return out, d
		}
		out = append(out, Deletion{File: f, Reason: why})
		d.Used -= f.Size
		d.Free += f.Size
	}
	return out, d
}
