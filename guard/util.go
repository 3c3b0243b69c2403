package guard

import "time"

// timeNow is time.Now, named for tests.
var timeNow = time.Now
