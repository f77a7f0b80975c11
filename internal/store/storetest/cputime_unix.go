//go:build unix

package storetest

import (
	"syscall"
	"time"
)

// CPUTime is the CPU time (user and system) the process has used: the
// benchmarks report it per operation, which depends less on the machine's
// load than the time they take.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
