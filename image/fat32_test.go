package image

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fat32Fields are a FAT32 boot sector's and FSInfo sector's fields, by
// name, as compared with mkfs.vfat's.
type fat32Fields struct {
	Jump                               string
	OEMName                            string
	BytesPerSector                     uint16
	SectorsPerCluster                  uint8
	Reserved                           uint16
	FATs                               uint8
	RootEntries, TotalSectors16        uint16
	Media                              uint8
	FATSize16                          uint16
	SectorsPerTrack, Heads             uint16
	Hidden, TotalSectors, FATSize      uint32
	ExtFlags, Version                  uint16
	RootCluster                        uint32
	FSInfoSector, BackupBootSector     uint16
	Reserved12                         string
	Drive, Reserved1, BootSig          uint8
	VolumeID                           uint32
	Label, FSType                      string
	BootSignature                      string
	BackupIsCopy, BackupFSInfoIsCopy   bool
	FSInfoLead, FSInfoStruct           uint32
	FSInfoFree, FSInfoNext             uint32
	FSInfoReservedZero, FSInfoTrailSig bool
}

func readFAT32Fields(t *testing.T, img string, offset int64) fat32Fields {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 8*sectorSize)
	if _, err := f.ReadAt(b, offset); err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	bs, fsi := b[:512], b[512:1024]
	return fat32Fields{
		Jump: string(bs[0:3]), OEMName: string(bs[3:11]),
		BytesPerSector: le.Uint16(bs[11:]), SectorsPerCluster: bs[13], Reserved: le.Uint16(bs[14:]), FATs: bs[16],
		RootEntries: le.Uint16(bs[17:]), TotalSectors16: le.Uint16(bs[19:]), Media: bs[21], FATSize16: le.Uint16(bs[22:]),
		SectorsPerTrack: le.Uint16(bs[24:]), Heads: le.Uint16(bs[26:]), Hidden: le.Uint32(bs[28:]),
		TotalSectors: le.Uint32(bs[32:]), FATSize: le.Uint32(bs[36:]), ExtFlags: le.Uint16(bs[40:]), Version: le.Uint16(bs[42:]),
		RootCluster: le.Uint32(bs[44:]), FSInfoSector: le.Uint16(bs[48:]), BackupBootSector: le.Uint16(bs[50:]),
		Reserved12: string(bs[52:64]), Drive: bs[64], Reserved1: bs[65], BootSig: bs[66], VolumeID: le.Uint32(bs[67:]),
		Label: string(bs[71:82]), FSType: string(bs[82:90]), BootSignature: string(bs[510:512]),
		BackupIsCopy: bytes.Equal(b[6*512:7*512], bs), BackupFSInfoIsCopy: bytes.Equal(b[7*512:8*512], fsi),
		FSInfoLead: le.Uint32(fsi[0:]), FSInfoStruct: le.Uint32(fsi[484:]), FSInfoFree: le.Uint32(fsi[488:]), FSInfoNext: le.Uint32(fsi[492:]),
		FSInfoReservedZero: bytes.Count(fsi[4:484], []byte{0}) == 480 && bytes.Count(fsi[496:508], []byte{0}) == 12,
		FSInfoTrailSig:     bytes.Equal(fsi[508:512], []byte{0, 0, 0x55, 0xaa}),
	}
}

// mkfsFields runs mkfs.vfat -F 32 on an image of the same size with the
// same partition offset, hidden sectors and label, and reads its fields.
func mkfsFields(t *testing.T, size int64) fat32Fields {
	t.Helper()
	if _, err := exec.LookPath("mkfs.vfat"); err != nil {
		requireTool(t, "mkfs.vfat (Debian package dosfstools)")
	}
	img := filepath.Join(t.TempDir(), "mkfs.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, size); err != nil {
		t.Fatal(err)
	}
	start := strconv.Itoa(partitionStart)
	if out, err := exec.Command("mkfs.vfat", "-F", "32", "-n", volumeLabel, "-h", start, "--offset", start, img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.vfat: %v\n%s", err, out)
	}
	return readFAT32Fields(t, img, PartitionOffset)
}

// fsckClusters is fsck.vfat's count of the partition's used and total
// clusters ("3 files, 198/250012 clusters"); it fails the test if fsck
// finds anything to say about the free cluster summary.
func fsckClusters(t *testing.T, img string) (used, total uint32) {
	t.Helper()
	fsckPartition(t, img)
	raw, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	part := filepath.Join(t.TempDir(), "part.img")
	if err := os.WriteFile(part, raw[PartitionOffset:], 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := exec.Command("fsck.vfat", "-n", part).CombinedOutput()
	m := regexp.MustCompile(`(\d+)/(\d+) clusters`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("fsck.vfat -n prints no cluster count:\n%s", out)
	}
	u, _ := strconv.ParseUint(string(m[1]), 10, 32)
	n, _ := strconv.ParseUint(string(m[2]), 10, 32)
	return uint32(u), uint32(n)
}

// TestFAT32LikeMkfs builds the boot partition and compares its boot
// sector and FSInfo with what mkfs.vfat -F 32 writes for the same size
// and offset. Only the volume id may differ (go-diskfs writes 0, for a
// reproducible image; mkfs a time-based one), and the OEM name, which
// names the program that formatted it ("godiskfs", "mkfs.fat"). The
// x86 boot code mkfs adds (a "not a bootable disk" message) is not a
// field and is not compared. With files on it, the free count is what
// fsck.vfat counts, and the next-free hint the last cluster before the
// first free one.
func TestFAT32LikeMkfs(t *testing.T) {
	for _, size := range []int64{64 << 20, DefaultDiskSize, 256 << 20} {
		t.Run(strconv.FormatInt(size>>20, 10)+"MiB", func(t *testing.T) {
			want := mkfsFields(t, size)
			want.VolumeID, want.OEMName = 0, "godiskfs"

			empty := filepath.Join(t.TempDir(), "empty.img")
			if err := WriteDisk(empty, size, nil); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, readFAT32Fields(t, empty, PartitionOffset)); diff != "" {
				t.Errorf("empty partition vs mkfs.vfat (-mkfs +ours):\n%s", diff)
			}

			img := filepath.Join(t.TempDir(), "disk.img")
			files := map[string][]byte{
				"config.txt":  []byte("arm_64bit=1\n"),
				"vmlinuz":     bytes.Repeat([]byte("kernel"), 1<<20),
				"camwire.txt": bytes.Repeat([]byte("#fps=30\n"), 362),
			}
			if err := WriteDisk(img, size, files); err != nil {
				t.Fatal(err)
			}
			got := readFAT32Fields(t, img, PartitionOffset)
			used, total := fsckClusters(t, img)
			if total != (want.TotalSectors-uint32(want.Reserved)-uint32(want.FATs)*want.FATSize)/uint32(want.SectorsPerCluster) {
				t.Errorf("fsck.vfat counts %d clusters, the boot sector's layout %d", total, (want.TotalSectors-uint32(want.Reserved)-uint32(want.FATs)*want.FATSize)/uint32(want.SectorsPerCluster))
			}
			// go-diskfs allocates from the start: the used clusters are
			// 2 … used+1.
			want.FSInfoFree, want.FSInfoNext = total-used, used+1
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("partition with files vs mkfs.vfat (-want +ours):\n%s", diff)
			}

			// An edit in place (go-diskfs rewrites FSInfo) keeps it so.
			if err := WriteDiskFile(img, "camwire.txt", bytes.Repeat([]byte("#fps=30\n"), 9000)); err != nil {
				t.Fatal(err)
			}
			used, total = fsckClusters(t, img)
			got = readFAT32Fields(t, img, PartitionOffset)
			if got.FSInfoFree != total-used {
				t.Errorf("after WriteDiskFile: FSInfo free %d, fsck.vfat counts %d free", got.FSInfoFree, total-used)
			}
			if got.Hidden != partitionStart || !got.BackupIsCopy || !got.BackupFSInfoIsCopy {
				t.Errorf("after WriteDiskFile: hidden %d, backup boot sector a copy %v, backup FSInfo a copy %v; want %d, true, true",
					got.Hidden, got.BackupIsCopy, got.BackupFSInfoIsCopy, partitionStart)
			}
		})
	}
}

// TestFAT32TooShortFAT: at 1 GiB go-diskfs v1.9.4 writes a FAT one entry
// short of the partition's clusters, which fsck.vfat rejects ("Filesystem
// has 260607 clusters but only space for 260606 FAT entries"); WriteDisk
// says so instead of writing a card that fails.
func TestFAT32TooShortFAT(t *testing.T) {
	err := WriteDisk(filepath.Join(t.TempDir(), "disk.img"), 1<<30, map[string][]byte{"a.txt": []byte("a\n")})
	if err == nil || !regexp.MustCompile(`room for 260606 clusters, but the partition has 260607`).MatchString(err.Error()) {
		t.Errorf("WriteDisk(1 GiB) = %v, want the short FAT named", err)
	}
}
