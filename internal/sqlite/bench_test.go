package sqlite

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
)

// seedBriefs stores perDay briefs a day in each region over days days, each
// with three signals, and returns their ids.
func seedBriefs(b *testing.B, db *DB, regions []string, days, perDay int) []int64 {
	b.Helper()
	var ids []int64
	for d := range days {
		for _, r := range regions {
			for i := range perDay {
				published := at(0, 0).AddDate(0, 0, d).Add(time.Duration(i) * 24 * time.Hour / time.Duration(perDay))
				br := sampleBrief(fmt.Sprintf("%s-%d-%d", r, d, i), r, published)
				ids = append(ids, mustUpsertBrief(b, db, br).ID)
			}
		}
	}
	return ids
}

// BenchmarkCreateDelivery measures planning one digest of ten briefs, one
// writer at a time.
func BenchmarkCreateDelivery(b *testing.B) {
	benchmarkCreateDelivery(b, false)
}

// BenchmarkCreateDeliveryParallel is the same with concurrent callers, who
// queue on the single write connection.
func BenchmarkCreateDeliveryParallel(b *testing.B) {
	benchmarkCreateDelivery(b, true)
}

func benchmarkCreateDelivery(b *testing.B, parallel bool) {
	ctx := context.Background()
	db := openTest(b)
	briefs := seedBriefs(b, db, []string{"lagos"}, 1, 10)
	const subscribers = 1000
	subs := make([]int64, subscribers)
	for i := range subs {
		subs[i] = mustCreateSubscriber(b, db, sampleSubscriber(fmt.Sprintf("r%d@example.com", i), "lagos")).ID
	}
	var seq atomic.Int64
	create := func() {
		i := seq.Add(1) - 1
		day := digest.DateOf(at(0, 0).AddDate(0, 0, int(i/subscribers)))
		d := sampleDelivery(subs[i%subscribers], day, at(7, 0), briefs...)
		if err := db.CreateDelivery(ctx, &d); err != nil {
			b.Error(err)
		}
	}
	b.ResetTimer()
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				create()
			}
		})
		return
	}
	for b.Loop() {
		create()
	}
}
