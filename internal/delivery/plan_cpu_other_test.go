//go:build !unix

package delivery

import "time"

// processCPU is not measured here: BenchmarkPlan reports zero CPU time.
func processCPU() time.Duration { return 0 }
