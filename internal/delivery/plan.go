package delivery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/delivery/outbox"
	"github.com/newsroom/digest/internal/render"
)

// planPageSize is how many readers one planning page holds. Each page costs
// a few reads and one write transaction, and each commit rewrites every page
// of the queue index that its rows touch (one per send time in the page), so
// fewer, larger pages write less; the page must stay small enough that the
// write lock, which `digest serve` needs too, is never held for long and the
// pages in flight stay within the memory target. BENCHMARKS.md has the
// measurements behind the size.
const planPageSize = 8000

// plannedPage is a page's new deliveries: plans in the order of readers,
// and ds pointing at their deliveries in the order they are claimed (by
// due time, then reader), which is the order the store writes them in.
// Sorting them while deciding the next page keeps that work off the
// writer, which is what the time of storing a plan depends on.
type plannedPage struct {
	plans []planned
	ds    []*digest.Delivery
}

// newPlannedPage returns plans as a page, ds sorted in claim order.
func newPlannedPage(plans []planned) plannedPage {
	ds := make([]*digest.Delivery, len(plans))
	for i := range plans {
		ds[i] = &plans[i].delivery
	}
	slices.SortStableFunc(ds, outbox.ClaimOrder)
	return plannedPage{plans: plans, ds: ds}
}

// planned is one new delivery a pass is about to queue. sub points into
// the page of readers it was decided from, so deciding allocates no copy
// of a reader.
type planned struct {
	sub      *digest.Subscriber
	delivery digest.Delivery
}

// plan decides, for every active reader, whether a digest is due now and
// with which briefs, and queues the new deliveries. It streams: readers are
// read a page at a time in id order and each page's new deliveries are
// stored in one short write transaction, so memory does not grow with the
// list and the write lock is never held for long. Reading and deciding the
// next page overlaps with writing the last one (SQLite lets one writer and
// readers work at once): storing, not deciding, is what takes the time. At
// most four pages are held at once: one being decided, one waiting, and
// two in the store (see storePages). Readers whose digest for today
// already exists are reported and left to the workers (or to nobody, when
// it is final).
//
// A dry run stores nothing; it renders each page's digests instead, with
// the briefs loaded once per pass. The reading and deciding time is summed
// into tm.Plan, the writing into tm.Store (the two overlap), a dry run's
// rendering into tm.Work. It returns how many deliveries it created.
func (o *Outbox) plan(ctx context.Context, now time.Time, dryRun bool, t *tally, tm *Timings) (created int, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan plannedPage, 1)
	var (
		decideErr  error
		decideTime time.Duration
	)
	go func() {
		defer close(pages)
		decideTime, decideErr = o.decide(ctx, now, t, pages)
	}()
	if dryRun {
		rendering := &dryRendering{cache: newBriefCache(o.store), groups: newRenderGroups(o.renderer, o.logger)}
		for page := range pages {
			start := time.Now()
			err = o.dryRun(ctx, page.plans, rendering, t)
			tm.Work += time.Since(start)
			if err != nil {
				break
			}
		}
	} else {
		created, err = o.storePages(ctx, pages, tm)
	}
	if err != nil {
		cancel()
		for range pages { // let the reader see the cancellation and stop
		}
	}
	// pages is closed: decideTime and decideErr are set.
	tm.Plan += decideTime
	if err != nil {
		return created, err
	}
	return created, decideErr
}

// decide reads the active readers a page at a time and sends each page's
// new deliveries (if any) to out, reporting the others to t. It returns
// the time it spent, waiting on out excluded.
func (o *Outbox) decide(ctx context.Context, now time.Time, t *tally, out chan<- plannedPage) (spent time.Duration, err error) {
	pd := &pageDecider{
		briefs: digest.NewCandidates(o.opts.Regions, now),
		load: func(from, to time.Time) ([]digest.BriefHead, error) {
			hs, err := o.store.BriefHeads(ctx, from, to)
			if err != nil {
				return nil, fmt.Errorf("load briefs to choose from: %w", err)
			}
			return hs, nil
		},
		days: map[dayKey]readerDay{},
		ids:  newMessageIDs(o.opts.MessageIDDomain),
	}
	var cursor int64
	for {
		if err := ctx.Err(); err != nil {
			return spent, err
		}
		start := time.Now()
		subs, err := o.store.ActivePage(ctx, cursor, planPageSize)
		if err != nil {
			return spent, fmt.Errorf("list active subscribers after id %d: %w", cursor, err)
		}
		if len(subs) == 0 {
			return spent + time.Since(start), nil
		}
		cursor = subs[len(subs)-1].ID
		plans, err := o.planPage(ctx, now, subs, pd, t)
		if err != nil {
			return spent + time.Since(start), err
		}
		if len(plans) == 0 {
			spent += time.Since(start)
			continue
		}
		page := newPlannedPage(plans)
		spent += time.Since(start)
		select {
		case out <- page:
		case <-ctx.Done():
			return spent, ctx.Err()
		}
	}
}

// dueReader is a reader of a page whose send time has come.
type dueReader struct {
	sub      *digest.Subscriber // in the page
	day      digest.SendDay
	after    time.Time        // the start of their window of briefs (digest.Selection.WindowStart)
	existing *digest.Delivery // their delivery of day.Date, if any
	history  []digest.Delivery
}

// pageDecider is what deciding a pass's pages shares from one page to the
// next: the briefs to choose from, the readers' local days, the
// Message-IDs.
type pageDecider struct {
	briefs *digest.Candidates
	load   func(from, to time.Time) ([]digest.BriefHead, error) // for briefs.Cover
	days   map[dayKey]readerDay
	ids    *messageIDs
}

// dayKey is what a reader's local day and send time depend on.
type dayKey struct {
	zone string
	send digest.TimeOfDay
}

// readerDay is the pass instant as readers with one zone and send time
// see it: a million readers share a few hundred of these, so the instant is
// converted, dated and given its send time once per (zone, send time), not
// once per reader.
type readerDay struct {
	day digest.SendDay
	err error // the zone could not be loaded
}

// day returns the local day of readers with sub's zone and send time.
func (o *Outbox) day(now time.Time, sub *digest.Subscriber, days map[dayKey]readerDay) readerDay {
	k := dayKey{sub.TimeZone, sub.SendTime}
	if d, ok := days[k]; ok {
		return d
	}
	var d readerDay
	loc, err := o.location(sub.TimeZone)
	if err != nil {
		d.err = err
	} else {
		d.day = sub.SendTime.DayAt(now, loc)
	}
	days[k] = d
	return d
}

// planPage decides one page of readers: the not-due, failed and existing
// ones go to t, the new deliveries are returned. It reads the page's recent
// deliveries in one query, and brief heads only when the page reaches
// further back than any page before it.
func (o *Outbox) planPage(ctx context.Context, now time.Time, subs []digest.Subscriber, pd *pageDecider, t *tally) ([]planned, error) {
	due := make([]dueReader, 0, len(subs))
	for i := range subs {
		sub := &subs[i]
		rd := o.day(now, sub, pd.days)
		if rd.err != nil {
			t.add(Item{Subscriber: *sub, Outcome: OutcomeFailed, Err: rd.err})
			o.logger.Error("subscriber has an unusable time zone", "subscriber", sub.ID, "zone", sub.TimeZone, "err", rd.err)
			continue
		}
		if !rd.day.Due() {
			t.add(Item{Subscriber: *sub, Date: rd.day.Date, Outcome: OutcomeNotDue})
			continue
		}
		due = append(due, dueReader{sub: sub, day: rd.day, after: o.selection.WindowStart(sub.Watermark, now)})
	}
	if len(due) == 0 {
		return nil, nil
	}
	if err := o.loadHistory(ctx, due); err != nil {
		return nil, err
	}
	plans := make([]planned, 0, len(due))
	for i := range due {
		r := &due[i]
		if r.existing != nil {
			if item := existingItem(r, now); item != nil {
				t.add(*item)
			}
			continue
		}
		if err := pd.briefs.Cover(r.after, pd.load); err != nil {
			return nil, err
		}
		ids := o.selection.Select(nil, pd.briefs, r.sub, r.history, now)
		if len(ids) == 0 {
			t.add(Item{Subscriber: *r.sub, Date: r.day.Date, Outcome: OutcomeNothingNew})
			continue
		}
		msgID := pd.ids.next(r.day.Date, time.Now())
		plans = append(plans, planned{sub: r.sub, delivery: digest.Delivery{
			SubscriberID: r.sub.ID,
			DigestDate:   r.day.Date,
			BriefIDs:     ids,
			MessageID:    msgID,
			Status:       digest.DeliveryQueued,
			Cutoff:       now.UTC(),
			DueAt:        r.day.SendAt.UTC(),
		}})
	}
	return plans, nil
}

// loadHistory finds, for the due readers of a page, their delivery for
// their local day and their history (what they already had), in one read:
// the deliveries dated on or after the page's earliest local day, and the
// sent ones cut off after the page's earliest window start.
func (o *Outbox) loadHistory(ctx context.Context, due []dueReader) error {
	ids := make([]int64, len(due))
	since, after := due[0].day.Date, due[0].after
	for i := range due {
		r := &due[i]
		ids[i] = r.sub.ID
		since = min(since, r.day.Date) // YYYY-MM-DD: text order is date order
		if r.after.Before(after) {
			after = r.after
		}
	}
	hist, err := o.store.RecentDeliveries(ctx, ids, since, after)
	if err != nil {
		return fmt.Errorf("look up recent deliveries: %w", err)
	}
	bySubscriber := func(a, b digest.Delivery) int { return cmp.Compare(a.SubscriberID, b.SubscriberID) }
	if !slices.IsSortedFunc(hist, bySubscriber) {
		slices.SortStableFunc(hist, bySubscriber)
	}
	// The page's readers are in id order too: walk both together.
	j := 0
	for i := range due {
		r := &due[i]
		for j < len(hist) && hist[j].SubscriberID < r.sub.ID {
			j++
		}
		k := j
		for k < len(hist) && hist[k].SubscriberID == r.sub.ID {
			if hist[k].DigestDate == r.day.Date {
				r.existing = &hist[k]
			}
			k++
		}
		r.history, j = hist[j:k:k], k
	}
	return nil
}

// existingItem reports a reader whose digest for today exists already: nil
// when it is the workers' to report (queued, or deferred and due again).
func existingItem(r *dueReader, now time.Time) *Item {
	d := r.existing
	item := &Item{Subscriber: *r.sub, Date: r.day.Date, DeliveryID: d.ID, MessageID: d.MessageID, Attempts: d.Attempts}
	switch d.Status {
	case digest.DeliverySent:
		item.Outcome = OutcomeAlreadySent
	case digest.DeliveryFailed, digest.DeliveryExpired, digest.DeliverySuppressed:
		item.Outcome = OutcomeFailedEarlier
		item.Err = errors.New(d.Error)
	case digest.DeliveryDeferred:
		if !d.NextAttemptAt.After(now) {
			return nil // due again: a worker claims it
		}
		item.Outcome = OutcomeWaiting
		item.Err = errors.New(d.Error)
	default:
		return nil // queued: a worker claims it
	}
	return item
}

// dryRendering is what a dry run renders with, as the workers of a pass
// do: briefs loaded once per pass, each distinct digest rendered once.
type dryRendering struct {
	cache  *briefCache
	groups *renderGroups
}

// dryRun renders what the plans would send, recording nothing.
func (o *Outbox) dryRun(ctx context.Context, plans []planned, r *dryRendering, t *tally) error {
	for _, pl := range plans {
		briefs, err := r.cache.get(ctx, pl.delivery.BriefIDs)
		if err != nil {
			return fmt.Errorf("load briefs to render: %w", err)
		}
		item := Item{Subscriber: *pl.sub, Date: pl.delivery.DigestDate, BriefIDs: pl.delivery.BriefIDs, Outcome: OutcomeSent}
		in, err := o.renderInput(*pl.sub, pl.delivery, briefs)
		var out render.Output
		if err == nil {
			out, err = r.groups.render(in)
		}
		if err != nil {
			item.Outcome, item.Err = OutcomeFailed, err
		}
		item.Subject, item.HTMLBytes, item.TextBytes = out.Subject, len(out.HTML), len(out.Text)
		t.add(item)
	}
	return nil
}

// location loads an IANA zone once per process: every reader of a pass
// would otherwise load (and parse) their zone's file for each message.
func (o *Outbox) location(name string) (*time.Location, error) {
	if loc, ok := o.zones.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("load time zone %q: %w", name, err)
	}
	o.zones.Store(name, loc)
	return loc, nil
}
