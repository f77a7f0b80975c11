//go:build !unix

package tracking_test

import "time"

// cpuTime is not measured here: the benchmark reports 0 CPU per event.
func cpuTime() time.Duration { return 0 }
