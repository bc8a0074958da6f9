#!/usr/bin/env bash
# flash.sh DEVICE [IMAGE] writes the camwire SD card image (default
# out/camwire.img) to DEVICE, a whole removable disk such as /dev/sdb or
# /dev/mmcblk0.
#
# It refuses anything else before touching it: a missing path, a regular
# file, a partition, a disk the kernel does not call removable (your
# system disk), a disk with a mounted file system, a disk smaller than the
# image. It shows the model and size and asks you to type "yes". Then dd
# writes with conv=fsync oflag=direct, so the card is complete when the
# script returns.
#
# SD card slots built into some laptops report "not removable"; use a USB
# card reader, or Raspberry Pi Imager / balenaEtcher (see the README).
set -euo pipefail

die() { echo "flash.sh: $*" >&2; exit 1; }

[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: flash.sh DEVICE [IMAGE]   (e.g. flash.sh /dev/sdb)"
dev=$1
img=${2:-out/camwire.img}

[ -f "$img" ] || die "$img: no such image (make image builds it)"
[ -e "$dev" ] || die "$dev: no such device"
[ -b "$dev" ] || die "$dev is not a block device"

real=$(readlink -f "$dev")
name=$(basename "$real")
type=$(lsblk -dno TYPE "$real" 2>/dev/null || true)
[ "$type" = disk ] || die "$dev is a ${type:-unknown device}, not a whole disk (give the disk, e.g. /dev/sdb, not /dev/sdb1)"

rm=$(lsblk -dno RM "$real" 2>/dev/null | tr -d ' ' || true)
sysrm=$(cat "/sys/block/$name/removable" 2>/dev/null || echo 0)
if [ "$rm" != 1 ] && [ "$sysrm" != 1 ]; then
	die "$dev is not a removable disk (lsblk RM=${rm:-?}, /sys/block/$name/removable=$sysrm): refusing to overwrite it"
fi

mounted=$(lsblk -nro MOUNTPOINT "$real" 2>/dev/null | grep -v '^$' || true)
[ -z "$mounted" ] || die "$dev has mounted file systems ($(echo $mounted)): unmount them first"

devbytes=$(lsblk -bdno SIZE "$real" 2>/dev/null | tr -d ' ' || true)
imgbytes=$(stat -c %s "$img")
if [ -n "$devbytes" ] && [ "$devbytes" -lt "$imgbytes" ]; then
	die "$dev holds $devbytes bytes, less than the $imgbytes of $img"
fi

model=$(lsblk -dno MODEL "$real" 2>/dev/null | sed 's/ *$//' || true)
size=$(lsblk -dno SIZE "$real" 2>/dev/null | tr -d ' ' || true)
imgsize=$(du -h --apparent-size "$img" | cut -f1)
echo "About to ERASE $dev: ${model:-unknown model}, $size"
echo "and write $img ($imgsize) to it."
printf 'Type yes to continue: '
answer=
read -r answer || true
[ "$answer" = yes ] || die "not confirmed, nothing written"

dd if="$img" of="$real" bs=4M conv=fsync oflag=direct status=progress
sync
echo "Done: $dev holds camwire. Put the card in the Pi."
