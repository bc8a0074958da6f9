package image

import (
	"encoding/binary"
	"fmt"
	"os"
)

// go-diskfs v1.9.4 writes a FAT32 boot sector with 0 hidden sectors and
// a 1-head, 1-sector geometry, and an FSInfo sector whose free count and
// next-free hint are "unknown" (0xFFFFFFFF), rewritten so after every
// change. The Pi's boot ROM and bootcode.bin read FAT with their own
// code, so the card should look as mkfs.vfat -F 32 makes it: finishFAT32
// fills in those fields once go-diskfs is done with the file. Its layout
// choices (cluster size, reserved sectors, FAT size) already match
// mkfs.vfat's for the card sizes; TestFAT32LikeMkfs compares field by
// field.
//
// The fields, from the partition's first sector (Microsoft's FAT
// specification, fatgen103):
//
//	boot sector  11 u16 bytes per sector     13 u8 sectors per cluster
//	             14 u16 reserved sectors     16 u8 number of FATs
//	             24 u16 sectors per track    26 u16 heads
//	             28 u32 hidden sectors       32 u32 total sectors
//	             36 u32 sectors per FAT      48 u16 FSInfo sector
//	             50 u16 backup boot sector   510 0x55 0xAA
//	FSInfo        0 "RRaA"  484 "rrAa"  488 u32 free clusters
//	            492 u32 next free cluster (hint)  508 00 00 55 AA
const (
	bsBytesPerSector   = 11
	bsSectorsPerCluter = 13
	bsReserved         = 14
	bsFATs             = 16
	bsSectorsPerTrack  = 24
	bsHeads            = 26
	bsHidden           = 28
	bsTotalSectors     = 32
	bsFATSize          = 36
	bsFSInfo           = 48
	bsBackup           = 50
	fsiLeadSig         = 0x41615252 // "RRaA"
	fsiStrucSig        = 0x61417272 // "rrAa"
	fsiFree            = 488
	fsiNextFree        = 492
)

// fatGeometry is the CHS geometry mkfs.fat (dosfstools 4.2) writes when
// it cannot ask the device, as for an image file: below 256 MiB the SD
// Card Association's recommendation, above it LBA-assist translation.
// Nothing reads CHS from a FAT32 boot sector today; conventional values
// keep tools that print or check it quiet.
func fatGeometry(sectors uint32) (sectorsPerTrack, heads uint16) {
	if sectors <= 524288 {
		switch {
		case sectors <= 32768:
			heads = 2
		case sectors <= 65536:
			heads = 4
		case sectors <= 262144:
			heads = 8
		default:
			heads = 16
		}
		if sectors <= 4096 {
			return 16, heads
		}
		return 32, heads
	}
	switch {
	case sectors <= 16*63*1024:
		heads = 16
	case sectors <= 32*63*1024:
		heads = 32
	case sectors <= 64*63*1024:
		heads = 64
	case sectors <= 128*63*1024:
		heads = 128
	default:
		heads = 255
	}
	return 63, heads
}

// finishFAT32 sets the hidden sectors (the partition's start), the
// geometry and the FSInfo free count and next free cluster (counted from
// the first FAT) of the image's boot partition, in the boot sector, the
// FSInfo sector and their backups.
func finishFAT32(file string) error {
	f, err := os.OpenFile(file, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = finishFAT32At(f, PartitionOffset, partitionStart)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("disk image: FAT32: %w", err)
	}
	return nil
}

func finishFAT32At(f *os.File, offset int64, hidden uint32) error {
	bs := make([]byte, sectorSize)
	if _, err := f.ReadAt(bs, offset); err != nil {
		return fmt.Errorf("boot sector: %w", err)
	}
	le := binary.LittleEndian
	if bs[510] != 0x55 || bs[511] != 0xaa || le.Uint16(bs[bsBytesPerSector:]) != sectorSize {
		return fmt.Errorf("boot sector: no FAT boot sector of %d-byte sectors at byte %d", sectorSize, offset)
	}
	spc := uint32(bs[bsSectorsPerCluter])
	reserved := uint32(le.Uint16(bs[bsReserved:]))
	fats := uint32(bs[bsFATs])
	total := le.Uint32(bs[bsTotalSectors:])
	fatSize := le.Uint32(bs[bsFATSize:])
	fsinfo := int64(le.Uint16(bs[bsFSInfo:]))
	backup := int64(le.Uint16(bs[bsBackup:]))
	dataStart := reserved + fats*fatSize
	if spc == 0 || fats == 0 || dataStart >= total || fsinfo == 0 {
		return fmt.Errorf("boot sector: implausible layout (%d sectors/cluster, %d reserved, %d FATs of %d, %d total, FSInfo at %d)",
			spc, reserved, fats, fatSize, total, fsinfo)
	}
	clusters := (total - dataStart) / spc

	// Free clusters are FAT entries 2 … clusters+1 whose low 28 bits
	// are zero. The next-free hint is the last cluster before the first
	// free one: Linux starts its search one past the hint, Microsoft's
	// specification at it, and both then find the first free cluster.
	// mkfs.vfat writes the same for an empty file system (2, the root
	// folder's cluster).
	fat := make([]byte, int64(fatSize)*sectorSize)
	if _, err := f.ReadAt(fat, offset+int64(reserved)*sectorSize); err != nil {
		return fmt.Errorf("FAT: %w", err)
	}
	if entries := uint32(len(fat) / 4); entries < clusters+2 {
		// go-diskfs v1.9.4 sizes the FAT one entry short at some sizes
		// (1 GiB: 260607 clusters, room for 260606); fsck.vfat rejects
		// such a file system, so it must not reach a card.
		return fmt.Errorf("go-diskfs wrote a FAT with room for %d clusters, but the partition has %d (fsck.vfat rejects it): choose another image size",
			entries-2, clusters)
	}
	var free, next uint32
	for c := uint32(2); c < clusters+2; c++ {
		if le.Uint32(fat[c*4:])&0x0fffffff == 0 {
			if free == 0 {
				next = c - 1
			}
			free++
		}
	}
	if free == 0 {
		next = 0xffffffff // no free cluster: "unknown", as the specification says
	} else if next < 2 {
		next = 2 // cluster 2 is free: there is no cluster before it
	}

	spt, heads := fatGeometry(total)
	le.PutUint16(bs[bsSectorsPerTrack:], spt)
	le.PutUint16(bs[bsHeads:], heads)
	le.PutUint32(bs[bsHidden:], hidden)

	fsi := make([]byte, sectorSize)
	if _, err := f.ReadAt(fsi, offset+fsinfo*sectorSize); err != nil {
		return fmt.Errorf("FSInfo: %w", err)
	}
	if le.Uint32(fsi[0:]) != fsiLeadSig || le.Uint32(fsi[484:]) != fsiStrucSig {
		return fmt.Errorf("FSInfo: no signatures in sector %d", fsinfo)
	}
	le.PutUint32(fsi[fsiFree:], free)
	le.PutUint32(fsi[fsiNextFree:], next)

	type write struct {
		sector int64
		b      []byte
	}
	writes := []write{{0, bs}, {fsinfo, fsi}}
	if backup > 0 {
		// The backup FSInfo follows the backup boot sector, as
		// go-diskfs and mkfs.vfat write them.
		writes = append(writes, write{backup, bs}, write{backup + 1, fsi})
	}
	for _, w := range writes {
		if _, err := f.WriteAt(w.b, offset+w.sector*sectorSize); err != nil {
			return fmt.Errorf("sector %d: %w", w.sector, err)
		}
	}
	return nil
}
