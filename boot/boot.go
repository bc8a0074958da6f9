// Package boot holds the files of the SD card's boot partition that are
// text: config.txt and cmdline.txt are templates camwire-image renders
// (see image.BootFiles); camwire.txt is the user's settings file with its
// defaults commented, copied as is.
package boot

import "embed"

// Files are config.txt, cmdline.txt and camwire.txt.
//
//go:embed *.txt
var Files embed.FS
