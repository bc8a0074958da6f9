#!/usr/bin/env bash
# qemu-virt.sh [IMAGE] [KERNEL-ARGS...] boots the image's own kernel and
# initramfs on QEMU's "virt" arm64 machine: virtio NIC on QEMU's user
# network (the guest is 10.0.2.15, the host is 10.0.2.2), the image as a
# virtio disk (camwire-init reads camwire.txt from it), a keyboard so
# the monitor's "sendkey ctrl-alt-delete" shuts down cleanly.
# Serial console on stdio; QEMU monitor on the unix socket $QEMU_MONITOR
# (default out/qemu-monitor.sock). Ctrl-A X quits QEMU at once.
# Every PCI device gets romfile= (no option ROM): the guest boots from
# -kernel, and QEMU would otherwise refuse to start without ipxe-qemu's
# efi-virtio.rom (internal/qemu does the same).
set -euo pipefail
img=${1:-out/camwire.img}
shift || true
[ -f "$img" ] || { echo "qemu-virt.sh: $img: no such image (make image)" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
off=4194304 # the boot partition's offset (image/disk.go)
kernel=$(mdir -b -i "$img@@$off" :: | grep -o 'vmlinuz-[^ ]*$' | head -1)
mcopy -n -i "$img@@$off" "::$kernel" "$dir/vmlinuz"
mcopy -n -i "$img@@$off" ::camwire.cpio.gz "$dir/initrd"
mon=${QEMU_MONITOR:-out/qemu-monitor.sock}
exec qemu-system-aarch64 -M virt -cpu cortex-a53 -smp 2 -m 512 -nographic -no-reboot \
	-kernel "$dir/vmlinuz" -initrd "$dir/initrd" \
	-append "console=ttyAMA0 rdinit=/init panic=-1 quiet $*" \
	-netdev user,id=n0 -device virtio-net-pci,netdev=n0,romfile= -device virtio-keyboard-pci,romfile= \
	-drive if=none,id=d0,format=raw,snapshot=on,file="$img" -device virtio-blk-pci,drive=d0,romfile= \
	-monitor "unix:$mon,server,nowait"
