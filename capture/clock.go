package capture

import "time"

// processStart anchors the fallback monotonic clock.
var processStart = time.Now()
