package sink

import (
	"bufio"
	"fmt"
	"os"

	"github.com/camwire/camwire/internal/gather"
	"github.com/camwire/camwire/wire"
)

// AnnexB stores a segment as a raw Annex-B H.264 elementary stream: the
// access units back to back, exactly as the camera sent them. It needs no
// header or trailer, so a .partial file is playable up to its last byte
// and Reopen needs no state.
type AnnexB struct {
	// BufferSize is the write buffer; 0 means 256 KiB. Frames are ~64 KiB
	// at 16 Mbit/s, so a few of them cost one write(2).
	BufferSize int
}

// NewAnnexB returns the Annex-B sink with default settings; its signature
// fits the receiver's format table.
func NewAnnexB() Sink { return AnnexB{} }

// Ext implements Sink.
func (AnnexB) Ext() string { return ".h264" }

// Create implements Sink.
func (a AnnexB) Create(path string, info SegmentInfo) (SegmentWriter, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	return a.writer(f, 0, info.Stable), nil
}

// Reopen implements Sink. The file must be exactly size bytes: anything
// else means the caller's journal and the file disagree, and appending
// would corrupt the stream.
func (a AnnexB) Reopen(path string, info SegmentInfo, size int64, state []byte) (SegmentWriter, error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if fi.Size() != size {
		f.Close()
		return nil, fmt.Errorf("reopen %s: file has %d bytes, journal says %d", path, fi.Size(), size)
	}
	if _, err := f.Seek(size, 0); err != nil {
		f.Close()
		return nil, err
	}
	return a.writer(f, size, info.Stable), nil
}

func (a AnnexB) writer(f *os.File, size int64, stable bool) *annexBWriter {
	n := a.BufferSize
	if n <= 0 {
		n = 256 << 10
	}
	w := &annexBWriter{f: f, size: size, stable: stable}
	if !stable {
		w.w = bufio.NewWriterSize(f, n)
	}
	return w
}

type annexBWriter struct {
	f    *os.File
	w    *bufio.Writer // nil when stable
	size int64         // bytes handed to w or queued
	// stable (SegmentInfo.Stable): payloads are queued and written from
	// where they lie, a sync's worth in one writev, instead of copied
	// through w.
	stable bool
	queue  [][]byte
	// err is sticky: after a failed write the file's tail is unknown,
	// and after a failed fsync so is what reached the disk. Linux
	// reports a writeback error to a file descriptor once, so a second
	// fsync returns 0 with the lost pages still missing: a writer whose
	// Sync failed never reports success again, and the caller reopens
	// the file at its last durable size.
	err error
	// fsync is f.Sync; tests replace it with a disk that fails.
	fsync func(*os.File) error
}

func (w *annexBWriter) WriteFrame(f wire.Frame) error {
	if w.err != nil {
		return w.err
	}
	if w.stable {
		w.queue = append(w.queue, f.Payload)
		w.size += int64(len(f.Payload))
		return nil
	}
	// Errors from os name the file already.
	if len(f.Payload) < w.w.Size()/4 {
		n, err := w.w.Write(f.Payload)
		w.size += int64(n)
		return w.fail(err)
	}
	// A big frame (a camera's keyframe, or every frame at high bit
	// rates) goes straight to the file: copying it through the buffer
	// would cost a pass over its bytes and save no system call.
	if err := w.w.Flush(); err != nil {
		return w.fail(err)
	}
	n, err := w.f.Write(f.Payload)
	w.size += int64(n)
	return w.fail(err)
}

// fail makes err, if any, the writer's sticky error.
func (w *annexBWriter) fail(err error) error {
	if err != nil && w.err == nil {
		w.err = err
	}
	return err
}

// flush writes what is buffered or queued.
func (w *annexBWriter) flush() error {
	if w.err != nil {
		return w.err
	}
	if !w.stable {
		return w.fail(w.w.Flush())
	}
	if _, err := gather.Write(w.f, w.queue); err != nil {
		return w.fail(err)
	}
	clear(w.queue) // the payloads go back to the caller
	w.queue = w.queue[:0]
	return nil
}

func (w *annexBWriter) Sync() (int64, []byte, error) {
	if err := w.flush(); err != nil {
		return 0, nil, err
	}
	sync := (*os.File).Sync
	if w.fsync != nil {
		sync = w.fsync
	}
	if err := sync(w.f); err != nil {
		return 0, nil, w.fail(err) // "sync <file>: ..." from os
	}
	return w.size, nil, nil
}

func (w *annexBWriter) Finish() error { return w.Close() }

func (w *annexBWriter) Close() error {
	_, _, err := w.Sync()
	clear(w.queue) // unwritten after an error; the caller has them
	w.queue = nil
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}
