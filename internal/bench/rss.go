package bench

import (
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ResetPeakRSS starts the process's peak resident set anew (Linux: writing
// 5 to /proc/self/clear_refs), after handing freed memory back to the
// system, so that a peak read afterwards covers only what follows. It
// reports whether that worked; where it did not, PeakRSSMB is the peak
// since the process started.
func ResetPeakRSS() bool {
	runtime.GC()
	debug.FreeOSMemory()
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// PeakRSSMB is the process's peak resident set in MiB since the last
// ResetPeakRSS, from /proc/self/status (VmHWM), or since it started, from
// getrusage, where there is no /proc.
func PeakRSSMB() float64 {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				if kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))); err == nil {
					return float64(kb) / 1024
				}
			}
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Maxrss) / 1024
}

// CPUTime is the CPU time (user and system) the process has used so far,
// from getrusage, or 0 where it cannot be read. Benchmarks report it
// beside wall time: on a machine shared with other work the wall time says
// more about the neighbours than about the code.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
