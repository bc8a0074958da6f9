package recv

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/camwire/camwire/wire"
)

// bootDir is where a camera's boot reports go, beside its journals:
// DIR/<camera>/.camwire/boot/<UTC time>.txt.
const bootDir = "boot"

// storeReport writes a camera's boot report (wire.BootReport) to a new
// file named by the UTC time it arrived and fsyncs it and its folder, so
// the ReportStored that follows is true. Two reports in one second get
// -2, -3 … rather than one overwriting the other.
func storeReport(cameraDir string, now time.Time, text string) (string, error) {
	dir := filepath.Join(cameraDir, stateDir, bootDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	base := now.UTC().Format("20060102T150405Z")
	for n := 1; ; n++ {
		name := base + ".txt"
		if n > 1 {
			name = fmt.Sprintf("%s-%d.txt", base, n)
		}
		p := filepath.Join(dir, name)
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		_, werr := f.WriteString(text)
		serr := f.Sync()
		cerr := f.Close()
		if err := errors.Join(werr, serr, cerr); err != nil {
			return p, fmt.Errorf("write %s: %w", p, err)
		}
		return p, syncDir(p)
	}
}

// FirstLine is a boot report's summary line.
func FirstLine(text string) string {
	l, _, _ := strings.Cut(text, "\n")
	return strings.TrimSpace(l)
}

// report stores a BootReport, logs its summary, tells the sender where
// it went and hands it to OnReport. A storage error is logged and the
// report is not confirmed: the camera sends it again on its next
// connection. It never ends the session.
func (ss *session) report(r wire.BootReport) {
	p, err := storeReport(ss.store.dir, time.Now(), r.Text)
	if err != nil {
		ss.log.Error("cannot store the camera's boot report; it sends it again on its next connection", "err", err)
		return
	}
	ss.log.Info("boot report: "+FirstLine(r.Text), "file", p)
	rel, err := filepath.Rel(ss.srv.Dir, p)
	if err != nil {
		rel = p
	}
	if err := ss.srv.send(ss.cc, wire.ReportStored{File: filepath.ToSlash(rel)}); err != nil {
		ss.cc.c.Close() // the reader ends and run finishes
	}
	if ss.srv.OnReport != nil {
		ss.srv.OnReport(ss.hello.Name, p, r.Text)
	}
}
