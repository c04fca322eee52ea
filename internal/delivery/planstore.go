package delivery

import (
	"context"
	"fmt"
	"time"
)

// storedPage is what became of storing one page of a plan.
type storedPage struct {
	page         plannedPage
	created      int
	err          error
	began, ended time.Time
}

// storePages stores the pages decide sends until one fails or they run
// out, and returns how many deliveries it created. Two pages are in the
// store at a time: PlanDeliveries checks and encodes a page before it
// takes the write lock, so that work for the next page runs while the
// last one is written. The writer's one connection keeps their
// transactions one at a time. tm.Store is the time with at least one page
// in the store.
func (o *Outbox) storePages(ctx context.Context, pages <-chan plannedPage, tm *Timings) (created int, err error) {
	var (
		inStore chan storedPage // the page being stored, if any
		lastEnd time.Time
	)
	finish := func(r storedPage) {
		created += r.created
		if r.ended.After(lastEnd) { // a page may commit before the one it follows
			tm.Store += r.ended.Sub(later(r.began, lastEnd))
			lastEnd = r.ended
		}
		if r.err != nil && err == nil {
			plans := r.page.plans
			err = fmt.Errorf("plan deliveries of subscribers %d-%d: %w",
				plans[0].sub.ID, plans[len(plans)-1].sub.ID, r.err)
		}
	}
	for page := range pages {
		done := make(chan storedPage, 1)
		go func() {
			r := storedPage{page: page, began: time.Now()}
			r.created, r.err = o.store.PlanDeliveries(ctx, page.ds)
			r.ended = time.Now()
			done <- r
		}()
		if inStore != nil {
			finish(<-inStore)
		}
		inStore = done
		if err != nil {
			break
		}
	}
	if inStore != nil {
		finish(<-inStore)
	}
	return created, err
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.Before(b) {
		return b
	}
	return a
}
