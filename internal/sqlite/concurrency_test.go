package sqlite

import (
	"context"
	"errors"
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
				if err := db.CreateDelivery(ctx, &d); err != nil {
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

	subs, err := dbs[1].ActiveSubscribers(ctx)
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

// Racing to create the same delivery: exactly one wins, the others get
// ErrConflict.
func TestConcurrentCreateSameDelivery(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	s := mustCreateSubscriber(t, db, sampleSubscriber("race@example.com", "lagos"))

	const racers = 12
	results := make(chan error, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			d := sampleDelivery(s.ID, "2026-03-01", at(7, 0))
			d.MessageID = fmt.Sprintf("<racer-%d@digest.example>", i)
			results <- db.CreateDelivery(ctx, &d)
		})
	}
	wg.Wait()
	close(results)
	var won, conflicts int
	for err := range results {
		switch {
		case err == nil:
			won++
		case errors.Is(err, digest.ErrConflict):
			conflicts++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if won != 1 || conflicts != racers-1 {
		t.Errorf("%d created and %d conflicts, want 1 and %d", won, conflicts, racers-1)
	}
}
