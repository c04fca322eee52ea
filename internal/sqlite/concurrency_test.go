package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	digest "github.com/newsroom/digest"
)

// Writers in this process and in another handle on the same file (as the CLI
// beside a running server would be) all succeed, with readers running beside
// them: no "database is locked".
func TestConcurrentWritersAndReaders(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "digest.db")
	dbs := []*DB{openAt(t, path), openAt(t, path)}
	var briefs []int64
	for i := range 5 {
		briefs = append(briefs, mustUpsertBrief(t, dbs[0], sampleBrief(fmt.Sprintf("b%d", i), "lagos", at(6, i))).ID)
	}

	const writers, perWriter = 8, 20
	errs := make(chan error, writers*perWriter*3+4)
	var wg sync.WaitGroup
	for w := range writers {
		db := dbs[w%len(dbs)]
		wg.Go(func() {
			for i := range perWriter {
				s := sampleSubscriber(fmt.Sprintf("w%d-%d@example.com", w, i), "lagos")
				if err := db.CreateSubscriber(ctx, &s); err != nil {
					errs <- err
					continue
				}
				d := sampleDelivery(s.ID, "2026-03-01", at(7, i), briefs...)
				if _, err := db.PlanDeliveries(ctx, []*digest.Delivery{&d}); err != nil {
					errs <- err
					continue
				}
				if err := db.MarkDeliverySent(ctx, d.ID, at(7, 30), "250 ok"); err != nil {
					errs <- err
				}
			}
		})
	}
	done := make(chan struct{})
	var readers sync.WaitGroup
	for r := range 4 {
		db := dbs[r%len(dbs)]
		readers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, err := db.BriefHeads(ctx, at(0, 0), at(23, 0)); err != nil {
					errs <- err
					return
				}
				if _, err := db.ListDeliveries(ctx, DeliveryFilter{Status: digest.DeliverySent}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(done)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent use: %v", err)
	}

	if _, err := dbs[0].CatchUpWatermarks(ctx); err != nil {
		t.Fatal(err)
	}
	subs, err := activeSubscribers(ctx, dbs[1])
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) != writers*perWriter {
		t.Errorf("%d subscribers stored, want %d", len(subs), writers*perWriter)
	}
	for _, s := range subs {
		if s.Watermark.IsZero() {
			t.Errorf("subscriber %s has no watermark although its delivery was sent", s.Email)
		}
	}
}

// Passes racing to plan the same reader's digest for a day: exactly one
// creates it, the others skip it without an error.
func TestConcurrentPlanSameDelivery(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	s := mustCreateSubscriber(t, db, sampleSubscriber("race@example.com", "lagos"))

	const racers = 12
	type result struct {
		created int
		err     error
	}
	results := make(chan result, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			d := sampleDelivery(s.ID, "2026-03-01", at(7, 0))
			d.MessageID = fmt.Sprintf("<racer-%d@digest.example>", i)
			n, err := db.PlanDeliveries(ctx, []*digest.Delivery{&d})
			results <- result{n, err}
		})
	}
	wg.Wait()
	close(results)
	var won, skipped int
	for r := range results {
		switch {
		case r.err != nil:
			t.Errorf("unexpected error: %v", r.err)
		case r.created == 1:
			won++
		default:
			skipped++
		}
	}
	if won != 1 || skipped != racers-1 {
		t.Errorf("%d created and %d skipped, want 1 and %d", won, skipped, racers-1)
	}
}
