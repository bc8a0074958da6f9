// Package image builds camwire's SD card image: the u-root initramfs
// around camwire-init (with the kernel modules the boards need), the boot
// partition (kernel, device trees, Pi firmware, config.txt, cmdline.txt,
// camwire.txt) and the partitioned disk image holding it. It only
// builds: the boot packages come from image/bootpkg, the command line is
// cmd/camwire-image, and running an image (QEMU) is package demo's job,
// so nothing here links an emulator.
package image
