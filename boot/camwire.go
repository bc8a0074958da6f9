package boot

import _ "embed"

// CamwireTxt is the settings template written to the SD card's FAT
// partition: every key of package config, documented and commented out
// with its default. config's tests keep it equal to config.Template().
//
//go:embed camwire.txt
var CamwireTxt []byte
