// Package e2e boots camwire's SD image on emulated boards: QEMU's virt
// machine and its Raspberry Pi 3 B. The kernel and initramfs are read back
// from the built image, so what boots is what a card would carry.
package e2e
