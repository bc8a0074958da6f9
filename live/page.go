package live

import _ "embed"

// pageHTML is a camera's page, an html/template. The live player is
// plain Media Source Extensions fed by a streaming fetch of stream.mp4:
// no plugin, no library. It keeps the picture near the live edge by
// seeking forward when more than a second is buffered ahead, and
// reconnects when the stream ends (receiver restart, new SPS/PPS). A
// file of its own, so editors and linters see HTML and JavaScript.
//
//go:embed page.html
var pageHTML string
