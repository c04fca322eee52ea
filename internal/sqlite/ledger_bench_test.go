package sqlite

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/delivery/outbox"
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

// BenchmarkSettlePages counts what the ledger writes: the pages a send
// pass appends to the write-ahead log, per commit and per message, with
// the same workload as BenchmarkSettle at W=4, batch=8. The checkpointer
// is stopped (a checkpoint would let the writer recycle the log
// mid-count), so its time figures are not comparable to BenchmarkSettle's;
// the page counts do not depend on the machine.
func BenchmarkSettlePages(b *testing.B) {
	ctx := context.Background()
	db, plan := newSettleBench(b)
	if err := db.ckpt.close(); err != nil {
		b.Fatal(err)
	}
	db.ckpt = nil
	var pageSize int64
	if err := db.rw.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&pageSize); err != nil {
		b.Fatal(err)
	}
	var frames, commits, msgs int64
	b.ResetTimer()
	for day := range b.N {
		b.StopTimer()
		plan(day)
		if _, err := db.rw.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		n, c := settlePass(b, db, day, 4, 8)
		b.StopTimer()
		fi, err := os.Stat(db.path + "-wal")
		if err != nil {
			b.Fatal(err)
		}
		// A WAL file is a 32-byte header and frames of a 24-byte header
		// and one page each.
		frames += (fi.Size() - 32) / (24 + pageSize)
		commits += int64(c)
		msgs += int64(n)
	}
	b.ReportMetric(float64(frames)/float64(commits), "pages/commit")
	b.ReportMetric(float64(frames)/float64(msgs), "pages/msg")
	b.ReportMetric(float64(commits)/float64(msgs), "commits/msg")
}

// settleBenchReaders is how many readers (and so messages) one pass has.
const settleBenchReaders = 2000

func benchmarkSettle(b *testing.B, workers, batch int) {
	db, plan := newSettleBench(b)
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
		n, _ := settlePass(b, db, day, workers, batch)
		stop()
		if n != settleBenchReaders {
			b.Fatalf("day %d: a pass sent %d messages, want %d", day, n, settleBenchReaders)
		}
		msgs += n
		day++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(msgs), "ns/msg")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(msgs), "cpu-ns/msg")
	b.ReportMetric(float64(allocs)/float64(msgs), "allocs/msg")
}

// newSettleBench returns a database with settleBenchReaders readers of two
// regions each, and plan, which queues one delivery per reader for day n:
// eight briefs from the reader's two regions, due over the morning.
func newSettleBench(b *testing.B) (db *DB, plan func(n int)) {
	ctx := context.Background()
	db = openTest(b)
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
	plan = func(n int) {
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
	return db, plan
}

// settlePass runs the workers' rounds until nothing is left to claim and
// returns how many messages were recorded sent, in how many commits.
func settlePass(b *testing.B, db *DB, day, workers, batch int) (sent, commits int) {
	ctx := context.Background()
	type worker struct {
		holder  string
		queue   []outbox.Claim
		done    *outbox.Result // the message on the wire, to record
		stopped bool
	}
	ws := make([]worker, workers)
	for i := range ws {
		ws[i].holder = fmt.Sprintf("bench:%d/w%d", day, i)
	}
	now := at(0, 0).AddDate(0, 0, day).Add(12 * time.Hour)
	for {
		var (
			results []outbox.Result
			reqs    []outbox.ClaimRequest
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
				reqs = append(reqs, outbox.ClaimRequest{Holder: w.holder, N: batch})
				asking = append(asking, i)
			}
		}
		if len(results) == 0 && len(reqs) == 0 {
			return sent, commits
		}
		claims, refused, err := db.Settle(ctx, now, results, reqs)
		commits++
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
			w.done = &outbox.Result{DeliveryID: c.Delivery.ID, Status: digest.DeliverySent,
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
