package sqlite

import (
	"context"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
)

// BenchmarkSettle measures the ledger's side of a send pass: W workers
// settle with the ledger in rounds, as internal/delivery does. Each round
// records every worker's last message as sent and claims a batch for the
// workers whose queue ran dry, in one Settle. One iteration is a whole pass
// over the day's deliveries (planned beforehand with the timer stopped), so
// the figures that matter are the per-message ones: ns/msg (wall time),
// cpu-ns/msg (user+system CPU of the process, SQLite included) and
// allocs/msg.
func BenchmarkSettle(b *testing.B) {
	for _, w := range []int{4, 8} {
		for _, batch := range []int{8, 32} {
			b.Run(fmt.Sprintf("W=%d/batch=%d", w, batch), func(b *testing.B) {
				benchmarkSettle(b, w, batch)
			})
		}
	}
}

// settleBenchReaders is how many readers (and so messages) one pass has.
const settleBenchReaders = 2000

func benchmarkSettle(b *testing.B, workers, batch int) {
	ctx := context.Background()
	db := openTest(b)
	regions := []string{"lagos", "nairobi", "cairo", "accra"}
	byRegion := map[string][]int64{}
	for _, r := range regions {
		for i := range 4 {
			br := sampleBrief(fmt.Sprintf("%s-%d", r, i), r, at(5, i))
			byRegion[r] = append(byRegion[r], mustUpsertBrief(b, db, br).ID)
		}
	}
	subs := make([]digest.Subscriber, settleBenchReaders)
	for i := range subs {
		a, c := regions[i%len(regions)], regions[(i+1)%len(regions)]
		subs[i] = mustCreateSubscriber(b, db, sampleSubscriber(fmt.Sprintf("r%d@example.com", i), a, c))
	}
	// plan queues one delivery per reader for day n: eight briefs from the
	// reader's two regions, due over the morning.
	plan := func(n int) {
		day := at(0, 0).AddDate(0, 0, n)
		ds := make([]*digest.Delivery, len(subs))
		for i, s := range subs {
			d := sampleDelivery(s.ID, digest.DateOf(day), day.Add(7*time.Hour),
				append(append([]int64(nil), byRegion[s.Regions[0]]...), byRegion[s.Regions[1]]...)...)
			d.DueAt = day.Add(6*time.Hour + time.Duration(i%120)*time.Minute)
			ds[i] = &d
		}
		if created, err := db.PlanDeliveries(ctx, ds); err != nil || created != len(ds) {
			b.Fatalf("PlanDeliveries day %d: %d, %v", n, created, err)
		}
	}

	var (
		day       int
		msgs      int
		cpu       time.Duration
		allocs    uint64
		ms        runtime.MemStats
		cpuMark   = processCPU(b)
		allocMark uint64
	)
	stop := func() {
		b.StopTimer()
		cpu += processCPU(b) - cpuMark
		runtime.ReadMemStats(&ms)
		allocs += ms.Mallocs - allocMark
	}
	start := func() {
		runtime.ReadMemStats(&ms)
		allocMark = ms.Mallocs
		cpuMark = processCPU(b)
		b.StartTimer()
	}
	b.ResetTimer()
	b.StopTimer()
	for range b.N {
		plan(day)
		start()
		n := settlePass(b, db, day, workers, batch)
		stop()
		if n != len(subs) {
			b.Fatalf("day %d: a pass sent %d messages, want %d", day, n, len(subs))
		}
		msgs += n
		day++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(msgs), "ns/msg")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(msgs), "cpu-ns/msg")
	b.ReportMetric(float64(allocs)/float64(msgs), "allocs/msg")
}

// settlePass runs the workers' rounds until nothing is left to claim and
// returns how many messages were recorded sent.
func settlePass(b *testing.B, db *DB, day, workers, batch int) int {
	ctx := context.Background()
	type worker struct {
		holder  string
		queue   []digest.Claim
		done    *digest.DeliveryResult // the message on the wire, to record
		stopped bool
	}
	ws := make([]worker, workers)
	for i := range ws {
		ws[i].holder = fmt.Sprintf("bench:%d/w%d", day, i)
	}
	now := at(0, 0).AddDate(0, 0, day).Add(12 * time.Hour)
	sent := 0
	for {
		var (
			results []digest.DeliveryResult
			reqs    []digest.ClaimRequest
			asking  []int // the worker of each request
		)
		for i := range ws {
			w := &ws[i]
			if w.stopped {
				continue
			}
			if w.done != nil {
				results = append(results, *w.done)
				w.done = nil
			}
			if len(w.queue) == 0 {
				reqs = append(reqs, digest.ClaimRequest{Holder: w.holder, N: batch})
				asking = append(asking, i)
			}
		}
		if len(results) == 0 && len(reqs) == 0 {
			return sent
		}
		claims, refused, err := db.Settle(ctx, now, results, reqs)
		if err != nil {
			b.Fatalf("Settle: %v", err)
		}
		for i, err := range refused {
			if err != nil {
				b.Fatalf("Settle refused delivery %d: %v", results[i].DeliveryID, err)
			}
		}
		sent += len(results)
		for j, i := range asking {
			ws[i].queue = append(ws[i].queue, claims[j]...)
		}
		// Every worker sends its next message.
		for i := range ws {
			w := &ws[i]
			if len(w.queue) == 0 {
				w.stopped = true
				continue
			}
			c := w.queue[0]
			w.queue = w.queue[1:]
			w.done = &digest.DeliveryResult{DeliveryID: c.Delivery.ID, Status: digest.DeliverySent,
				SentAt: now, Reason: "250 2.0.0 Ok: queued as " + c.Delivery.MessageID}
		}
	}
}

// processCPU returns the user and system CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
