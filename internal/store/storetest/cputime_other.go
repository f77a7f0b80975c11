//go:build !unix

package storetest

import "time"

// CPUTime is not measured here: the benchmarks report 0 CPU.
func CPUTime() time.Duration { return 0 }
