package delivery

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/newsroom/digest/internal/bench"
	"github.com/newsroom/digest/internal/sqlite"
)

// BenchmarkPlan plans one pass (deciding and storing) over
// DIGEST_BENCH_READERS readers (100,000 unless set) of a population made
// for the pass instant, on a real SQLite file. It reports readers planned
// per second, the deliveries created, the CPU time the process spent
// (user and system: less disturbed by other work on the machine than the
// wall time), the bytes allocated, and the peak resident memory of the
// process during the pass (Linux), which the one-million-reader target
// bounds at 150 MB.
//
//	DIGEST_BENCH_READERS=1000000 DIGEST_BENCH_TEMPLATE=/tmp/plan-1m.db \
//		go test -run '^$' -bench 'BenchmarkPlan$' -benchtime 1x ./internal/delivery/
func BenchmarkPlan(b *testing.B) {
	readers := 100_000
	if s := os.Getenv("DIGEST_BENCH_READERS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			b.Fatalf("DIGEST_BENCH_READERS=%q: want a positive number", s)
		}
		readers = n
	}
	now := time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC)
	dir := b.TempDir()
	// DIGEST_BENCH_TEMPLATE names a file that keeps the filled population
	// between runs (filling a million readers takes a minute or two); it
	// is filled when missing and copied for every run, never changed.
	template := os.Getenv("DIGEST_BENCH_TEMPLATE")
	if template == "" {
		template = filepath.Join(dir, "template.db")
	}
	if _, err := os.Stat(template); err != nil {
		start := time.Now()
		population{readers: readers, briefs: 120, now: now, seed: 1}.fill(b, template)
		b.Logf("filled %d readers in %v", readers, time.Since(start).Round(time.Millisecond))
	}

	ctx := context.Background()
	var (
		elapsed     time.Duration
		created     int
		peakRSS     float64 // MiB; 0 when the peak cannot be reset
		allocated   uint64
		plan, store time.Duration
		cpu         time.Duration
	)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		path := filepath.Join(dir, "run"+strconv.Itoa(i)+".db")
		copyFile(b, template, path)
		db, err := sqlite.Open(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		p := newPlanPass(b, db, now)
		reset := bench.ResetPeakRSS()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		t := newTally(-1)
		var tm Timings
		b.StartTimer()

		begun, cpuBefore := time.Now(), bench.CPUTime()
		n, err := p.plan(ctx, now, false, t, &tm)
		elapsed += time.Since(begun)
		cpu += bench.CPUTime() - cpuBefore

		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		created += n
		if reset {
			peakRSS = max(peakRSS, bench.PeakRSSMB())
		}
		allocated += after.TotalAlloc - before.TotalAlloc
		plan += tm.Plan
		store += tm.Store
		if i == 0 {
			b.Logf("%d readers: %d planned, %v (plan %v, store %v); counts %v",
				readers, n, time.Since(begun).Round(time.Millisecond), tm.Plan.Round(time.Millisecond),
				tm.Store.Round(time.Millisecond), t.counts)
		}
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		os.Remove(path)
		b.StartTimer()
	}
	b.ReportMetric(float64(readers)*float64(b.N)/elapsed.Seconds(), "readers/s")
	b.ReportMetric(float64(created)/float64(b.N), "planned/op")
	b.ReportMetric(float64(allocated)/float64(b.N)/(1<<20), "alloc-MB/op")
	b.ReportMetric(plan.Seconds()/float64(b.N), "plan-s/op")
	b.ReportMetric(store.Seconds()/float64(b.N), "store-s/op")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	if peakRSS > 0 {
		b.ReportMetric(peakRSS, "peak-RSS-MB")
	}
}

func copyFile(tb testing.TB, from, to string) {
	tb.Helper()
	src, err := os.Open(from)
	if err != nil {
		tb.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		tb.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		tb.Fatal(err)
	}
}
