//go:build unix

package delivery

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user and system) the process has used
// so far, or 0 where it cannot be read. BenchmarkPlan reports the CPU time
// of a pass as well as its wall time: on a machine shared with other
// benchmarks the wall time says more about the neighbours than the code.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
