#!/usr/bin/env bash
# qemu-raspi3b.sh [IMAGE] [KERNEL-ARGS...] boots the image on QEMU's
# Raspberry Pi 3 B: the image's kernel with the Pi's device tree from the
# image, the image itself as the SD card (changes are discarded:
# snapshot=on), QEMU's usb-net as the NIC (cdc_ether; the guest reaches
# the host at 10.0.2.2), a USB keyboard for ctrl-alt-delete. Slow: the NIC
# appears seconds after boot and moves ~0.2 MB/s. QEMU 7.2 resets the
# board the moment the watchdog is armed, so bcm2835_wdt is kept out (a
# real Pi is not affected; without it the guest halts instead of
# powering off: quit QEMU with ctrl-a x).
set -euo pipefail
img=${1:-out/camwire.img}
shift || true
[ -f "$img" ] || { echo "qemu-raspi3b.sh: $img: no such image (make image)" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
off=4194304
kernel=$(mdir -b -i "$img@@$off" :: | grep -o 'vmlinuz-[^ ]*$' | head -1)
mcopy -n -i "$img@@$off" "::$kernel" "$dir/vmlinuz"
mcopy -n -i "$img@@$off" ::camwire.cpio.gz "$dir/initrd"
mcopy -n -i "$img@@$off" ::bcm2837-rpi-3-b.dtb "$dir/dtb"
mon=${QEMU_MONITOR:-out/qemu-monitor.sock}
qemu-system-aarch64 -M raspi3b -nographic -no-reboot \
	-kernel "$dir/vmlinuz" -initrd "$dir/initrd" -dtb "$dir/dtb" \
	-append "console=ttyAMA0 rdinit=/init panic=-1 quiet module_blacklist=bcm2835_wdt $*" \
	-netdev user,id=n0 -device usb-net,netdev=n0 -device usb-kbd \
	-drive if=sd,format=raw,snapshot=on,file="$img" \
	-monitor "unix:$mon,server,nowait"
