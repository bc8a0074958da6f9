package image

import (
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/partition/mbr"
)

// SD card layout, written as a plain file (no root, no loop device, no
// mkfs):
//
//	byte 0            MBR: boot code area (zero), partition table at 446,
//	                  signature 0x55 0xAA at 510
//	sector 8192       partition 1, type 0x0c (FAT32 with LBA), label BOOT,
//	(4 MiB)           to the end of the image: everything the Pi boots
//
// The 4 MiB alignment matches SD cards' erase blocks (and Raspberry Pi
// OS). The total size is a power of two because QEMU's SD card model
// refuses any other.
const (
	sectorSize      = 512
	partitionStart  = 8192 // sectors
	DefaultDiskSize = 128 << 20
	volumeLabel     = "CAMWIRE"
)

// PartitionOffset is the byte offset of the boot partition in the image,
// for tools such as `mdir -i camwire.img@@4194304`.
const PartitionOffset = partitionStart * sectorSize

// WriteDisk writes an image of size bytes at file with one FAT32
// partition holding files (name → content) in its root folder.
func WriteDisk(file string, size int64, files map[string][]byte) error {
	if size <= 0 || size&(size-1) != 0 {
		return fmt.Errorf("disk image size %d is not a power of two (QEMU's SD card needs one)", size)
	}
	var total int64
	for _, b := range files {
		total += int64(len(b))
	}
	// FAT32's tables and cluster slack take a few percent.
	if room := size - PartitionOffset; total > room*9/10 {
		return fmt.Errorf("disk image: %d MiB of files do not fit in a %d MiB image", total>>20, size>>20)
	}
	if err := os.Remove(file); err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := writeDisk(file, size, files); err != nil {
		return err
	}
	return finishFAT32(file)
}

// writeDisk is WriteDisk's part done by go-diskfs: partition table,
// file system, files.
func writeDisk(file string, size int64, files map[string][]byte) error {
	d, err := diskfs.Create(file, size, diskfs.SectorSizeDefault)
	if err != nil {
		return fmt.Errorf("disk image: %w", err)
	}
	defer d.Close()
	table := &mbr.Table{
		LogicalSectorSize:  sectorSize,
		PhysicalSectorSize: sectorSize,
		Partitions: []*mbr.Partition{{
			Index: 1,
			Type:  mbr.Fat32LBA,
			// CHS addresses say "use LBA": the largest value, as
			// fdisk writes for partitions beyond 8 GiB.
			StartHead: 0xfe, StartSector: 0xff, StartCylinder: 0xff,
			EndHead: 0xfe, EndSector: 0xff, EndCylinder: 0xff,
			Start: partitionStart,
			Size:  uint32(size/sectorSize - partitionStart),
		}},
	}
	if err := d.Partition(table); err != nil {
		return fmt.Errorf("disk image: partition table: %w", err)
	}
	fs, err := d.CreateFilesystem(disk.FilesystemSpec{Partition: 1, FSType: filesystem.TypeFat32, VolumeLabel: volumeLabel, Reproducible: true})
	if err != nil {
		return fmt.Errorf("disk image: FAT32: %w", err)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		// go-diskfs v1.9.4 writes a subdirectory's ".." pointing at
		// the root's cluster instead of 0, which fsck.vfat rejects; the
		// boot partition needs no folders, so refuse them.
		if strings.Contains(n, "/") {
			return fmt.Errorf("disk image: %q: folders are not supported on the boot partition", n)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f, err := fs.OpenFile("/"+n, os.O_CREATE|os.O_RDWR)
		if err != nil {
			return fmt.Errorf("disk image: create %s: %w", n, err)
		}
		if _, err := f.Write(files[n]); err != nil {
			f.Close()
			return fmt.Errorf("disk image: write %s: %w", n, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("disk image: close %s: %w", n, err)
		}
	}
	return nil
}

// ReadDiskFile reads one file back from the image's boot partition (for
// tests and for the QEMU boards, which take the kernel from the image).
func ReadDiskFile(file, name string) ([]byte, error) {
	d, err := diskfs.Open(file, diskfs.WithOpenMode(diskfs.ReadOnly))
	if err != nil {
		return nil, err
	}
	defer d.Close()
	fs, err := d.GetFilesystem(1)
	if err != nil {
		return nil, fmt.Errorf("%s: partition 1: %w", file, err)
	}
	p := "/" + strings.TrimPrefix(name, "/")
	f, err := fs.OpenFile(p, os.O_RDONLY)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", file, name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	// go-diskfs v1.9.4's reader returns whole sectors for some sizes (a
	// 2896-byte file reads as 3072 bytes, the tail zeros; mtools and the
	// kernel read 2896): cut to the size in the directory entry.
	dir := strings.TrimPrefix(path.Dir(p), "/")
	if dir == "" {
		dir = "." // io/fs names the root "."
	}
	ents, err := fs.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", file, path.Dir(p), err)
	}
	for _, e := range ents {
		if !strings.EqualFold(e.Name(), path.Base(p)) {
			continue
		}
		if fi, err := e.Info(); err == nil && int64(len(b)) > fi.Size() {
			b = b[:fi.Size()]
		}
	}
	return b, nil
}

// WriteDiskFile replaces (or creates) one file in the root folder of the
// image's boot partition, in place, the way a user edits camwire.txt on
// the card from a laptop — without root, a loop device or mtools. Tests
// use it to change the settings of an image that was already built.
func WriteDiskFile(file, name string, data []byte) error {
	if strings.Contains(strings.TrimPrefix(name, "/"), "/") {
		return fmt.Errorf("%s: %q: folders are not supported on the boot partition", file, name)
	}
	if len(data) == 0 {
		// go-diskfs v1.9.4 gives every file a first cluster, also an
		// empty one, which fsck.vfat reports as an error.
		return fmt.Errorf("%s: %s: empty files are not supported (write a comment line instead)", file, name)
	}
	d, err := diskfs.Open(file, diskfs.WithOpenMode(diskfs.ReadWrite))
	if err != nil {
		return err
	}
	err = writeFile(d, name, data)
	if cerr := d.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("%s: %w", file, cerr)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	// go-diskfs reset the FSInfo counts with its FAT change.
	return finishFAT32(file)
}

func writeFile(d *disk.Disk, name string, data []byte) error {
	fs, err := d.GetFilesystem(1)
	if err != nil {
		return fmt.Errorf("partition 1: %w", err)
	}
	p := "/" + strings.TrimPrefix(name, "/")
	f, err := fs.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_TRUNC)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", name, err)
	}
	return nil
}
