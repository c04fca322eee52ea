package delivery

import (
	"context"
	"errors"
	"fmt"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/render"
)

// planned is one new delivery a pass is about to queue.
type planned struct {
	sub      digest.Subscriber
	delivery digest.Delivery
	briefs   []digest.Brief
}

// plan decides, for every active reader, whether a digest is due now and
// with which briefs. It reads only; the caller stores the plans in one
// transaction. Readers whose digest for today already exists are reported
// and left to the workers (or to nobody, when it is final).
//
// Only a dry run keeps each plan's briefs (to render them): a real pass
// stores brief IDs and the workers load each brief once, so a big pass does
// not hold every reader's copy of every brief at once.
func (p *Pass) plan(ctx context.Context, now time.Time, keepBriefs bool, t *tally) ([]planned, error) {
	subs, err := p.store.ActiveSubscribers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list active subscribers: %w", err)
	}
	var plans []planned
	for _, sub := range subs {
		if err := ctx.Err(); err != nil {
			return plans, err
		}
		loc, err := p.location(sub.TimeZone)
		if err != nil {
			t.add(Item{Subscriber: sub, Outcome: OutcomeFailed, Err: err})
			p.logger.Error("subscriber has an unusable time zone", "subscriber", sub.ID, "zone", sub.TimeZone, "err", err)
			continue
		}
		pl, item, err := p.planOne(ctx, sub, now.In(loc))
		if pl != nil && !keepBriefs {
			pl.briefs = nil
		}
		if err != nil {
			return plans, err
		}
		if item != nil {
			t.add(*item)
		}
		if pl != nil {
			plans = append(plans, *pl)
		}
	}
	return plans, nil
}

// planOne plans one reader; local is the pass instant in the reader's zone.
// It returns a plan, or an item saying why there is none (nil when the
// reader's existing delivery is the workers' to report).
func (p *Pass) planOne(ctx context.Context, sub digest.Subscriber, local time.Time) (*planned, *Item, error) {
	item := &Item{Subscriber: sub, Date: digest.DateOf(local)}
	dueAt, after := p.window(sub, local)
	if local.Before(dueAt) {
		item.Outcome = OutcomeNotDue
		return nil, item, nil
	}
	existing, err := p.store.DeliveryFor(ctx, sub.ID, item.Date)
	switch {
	case err == nil:
		item.DeliveryID, item.MessageID, item.Attempts = existing.ID, existing.MessageID, existing.Attempts
		switch existing.Status {
		case digest.DeliverySent:
			item.Outcome = OutcomeAlreadySent
		case digest.DeliveryFailed, digest.DeliveryExpired, digest.DeliverySuppressed:
			item.Outcome = OutcomeFailedEarlier
			item.Err = errors.New(existing.Error)
		case digest.DeliveryDeferred:
			if existing.NextAttemptAt.After(p.now()) {
				item.Outcome = OutcomeWaiting
				item.Err = errors.New(existing.Error)
				return nil, item, nil
			}
			return nil, nil, nil // due again: a worker claims it
		default:
			return nil, nil, nil // queued: a worker claims it
		}
		return nil, item, nil
	case !errors.Is(err, digest.ErrNotFound):
		return nil, nil, fmt.Errorf("look up today's delivery of subscriber %d: %w", sub.ID, err)
	}

	briefs, err := p.store.BriefsNotSent(ctx, sub.ID, sub.Regions, after, local)
	if err != nil {
		return nil, nil, fmt.Errorf("gather briefs for subscriber %d: %w", sub.ID, err)
	}
	var ids []int64
	for _, s := range render.Arrange(p.opts.Regions, sub.Regions, briefs) {
		for _, b := range s.Briefs {
			ids = append(ids, b.ID)
		}
	}
	if len(ids) == 0 {
		item.Outcome = OutcomeNothingNew
		return nil, item, nil
	}
	msgID, err := newMessageID(item.Date, p.opts.MessageIDDomain)
	if err != nil {
		return nil, nil, err
	}
	return &planned{sub: sub, briefs: briefs, delivery: digest.Delivery{
		SubscriberID: sub.ID,
		DigestDate:   item.Date,
		BriefIDs:     ids,
		MessageID:    msgID,
		Status:       digest.DeliveryQueued,
		Cutoff:       local.UTC(),
		DueAt:        dueAt.UTC(),
	}}, nil, nil
}

// dryRun renders what the plans would send, recording nothing.
func (p *Pass) dryRun(plans []planned, t *tally) {
	for _, pl := range plans {
		item := Item{Subscriber: pl.sub, Date: pl.delivery.DigestDate, BriefIDs: pl.delivery.BriefIDs, Outcome: OutcomeSent}
		out, err := p.render(pl.sub, pl.delivery, pl.briefs)
		if err != nil {
			item.Outcome, item.Err = OutcomeFailed, err
		}
		item.Subject, item.HTMLBytes, item.TextBytes = out.Subject, len(out.HTML), len(out.Text)
		t.add(item)
	}
}

// window returns, for a reader at local time local, their send time that
// day and the start of the window of briefs a digest then carries: briefs
// published since the last digest's cut-off, plus any published a little
// before it that were stored too late to make that digest (what a sent
// digest already carried is excluded by the query); for a first digest,
// the look-back.
func (p *Pass) window(sub digest.Subscriber, local time.Time) (dueAt, after time.Time) {
	y, m, d := local.Date()
	dueAt = sub.SendTime.On(y, m, d, local.Location())
	after = sub.Watermark.Add(-p.opts.LateBriefGrace)
	if sub.Watermark.IsZero() {
		after = local.Add(-p.opts.FirstDigestLookback)
	}
	return dueAt, after
}

// location loads an IANA zone once per process: every reader of a pass
// would otherwise load (and parse) their zone's file for each message.
func (p *Pass) location(name string) (*time.Location, error) {
	if loc, ok := p.zones.Load(name); ok {
		return loc.(*time.Location), nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("load time zone %q: %w", name, err)
	}
	p.zones.Store(name, loc)
	return loc, nil
}

// render renders a delivery for its reader, as of the delivery's cut-off in
// the reader's zone.
func (p *Pass) render(sub digest.Subscriber, d digest.Delivery, briefs []digest.Brief) (render.Output, error) {
	loc, err := p.location(sub.TimeZone)
	if err != nil {
		return render.Output{}, err
	}
	out, err := p.renderer.Render(render.Input{
		Subscriber:     sub,
		Now:            d.Cutoff.In(loc),
		Briefs:         briefs,
		UnsubscribeURL: p.links.Unsubscribe(sub.ID),
		PreferencesURL: p.links.Preferences(sub.ID),
	})
	if err != nil {
		return render.Output{}, fmt.Errorf("render digest: %w", err)
	}
	return out, nil
}
