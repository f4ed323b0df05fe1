//go:build unix

package httpapi_test

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time this process has used, user and system, all
// threads (the garbage collector's included). Under a load from other
// processes it varies far less than the wall time of a benchmark.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
