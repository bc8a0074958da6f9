#!/usr/bin/env bash
# deps.sh installs the Debian packages camwire's make targets need, and
# nothing when all of them are there. Idempotent and quiet on success.
#
# Packages (add here, with the reason, when a target needs a new tool):
#   netcat-openbsd  the real `nc`: old-style client in tests, baseline in benchmarks
#   ffmpeg          ffprobe proves recordings decode; ffmpeg makes the test clip
#   qemu-system-arm qemu-system-aarch64: the emulated boards (virt, raspi3b)
#   ipxe-qemu       QEMU's PCI NIC option ROMs (efi-virtio.rom), only a Recommends
#                   of qemu-system-arm, which --no-install-recommends below skips.
#                   Our own command lines need none (romfile=), but a hand-run
#                   `-device virtio-net-pci` fails without it ("failed to find romfile")
#   kmod            depmod builds modules.dep for the initramfs
#   cpio            inspecting initramfs archives in tests
#   dosfstools      fsck.vfat -n checks the boot partition we write
#   mtools          reading files back from the FAT image in tests
#   iproute2        `ip netns` and veth pairs for netlink tests
#   e2fsprogs       mkfs.ext4 for the small disk-full test filesystem
#   chromium        headless browser proves the live view plays (live/browser_test.go,
#                   driven by chromedp over the DevTools protocol)
#   gstreamer1.0-tools         gst-launch-1.0: a second, independent RTSP client (rtsp/ tests)
#   gstreamer1.0-plugins-good  rtspsrc (the RTSP client) and rtph264depay (RTP to H.264)
#   gstreamer1.0-plugins-bad   h264parse (videoparsersbad): splits the depayloaded stream into frames
#   debootstrap     builds the Debian trixie root with Wine 10 that runs camwire-recv.exe
#                   (scripts/wine-root.sh, cmd/camwire-recv/wine_test.go)
set -euo pipefail

pkgs=(netcat-openbsd ffmpeg qemu-system-arm ipxe-qemu kmod cpio dosfstools mtools iproute2 e2fsprogs chromium
	gstreamer1.0-tools gstreamer1.0-plugins-good gstreamer1.0-plugins-bad debootstrap)
pkgs+=("$@")

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	sudo=sudo
	command -v sudo >/dev/null || { echo "deps.sh: need root to install: ${missing[*]}" >&2; exit 1; }
else
	sudo=
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
