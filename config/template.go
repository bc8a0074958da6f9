package config

import (
	"bytes"
	"fmt"
	"strings"
)

// Template renders camwire.txt as shipped on the SD card: every key,
// documented, commented out with its default, so the file changes
// nothing until the user removes a '#'. boot/camwire.txt is this output;
// a test keeps the two equal.
func Template() []byte {
	var b bytes.Buffer
	for _, l := range []string{
		"# camwire.txt - settings for the camwire camera.",
		"#",
		"# To change a setting, remove the '#' in front of it and edit the value.",
		"# One key=value a line; lines starting with '#' are comments. A bad",
		"# value falls back to the default shown here, and camwire-recv shows",
		"# a message naming the line. The kernel command line (cmdline.txt) may",
		"# override any key as camwire.KEY=VALUE.",
		"",
	} {
		b.WriteString(l)
		b.WriteString("\n")
	}
	raspivid := Default().ExecCommand()
	for _, k := range keys {
		for _, d := range k.doc {
			d = strings.ReplaceAll(d, "{raspivid}", raspivid)
			fmt.Fprintf(&b, "# %s\n", d)
		}
		fmt.Fprintf(&b, "#%s=%s\n\n", k.name, k.def)
	}
	b.Truncate(b.Len() - 1) // no blank line at the end
	return b.Bytes()
}
