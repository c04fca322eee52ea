// Package delivery runs a digest pass: it finds the readers who are due,
// gathers the briefs each has not had, renders their digest and sends it,
// recording a delivery per reader and local day. The watermark that decides
// what a reader "has had" moves only after the SMTP server accepted the
// message, so a failure never loses briefs and a second pass on the same
// local day never sends a second digest.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/mailer"
	"github.com/newsroom/digest/internal/render"
)

// ErrSMTPUnavailable means a pass stopped because the SMTP server could not be
// reached; the readers it did not get to are left for the next pass.
var ErrSMTPUnavailable = errors.New("smtp server unavailable")

// Store is what a pass needs from the database; *sqlite.DB implements it.
type Store interface {
	ActiveSubscribers(ctx context.Context) ([]digest.Subscriber, error)
	DeliveryFor(ctx context.Context, subscriberID int64, date digest.Date) (digest.Delivery, error)
	BriefsNotSent(ctx context.Context, subscriberID int64, regions []string, after, upTo time.Time) ([]digest.Brief, error)
	CreateDelivery(ctx context.Context, d *digest.Delivery) error
	UpdateDeliveryPlan(ctx context.Context, id int64, briefIDs []int64, cutoff time.Time) error
	MarkDeliverySent(ctx context.Context, id int64, sentAt time.Time) error
	MarkDeliveryFailed(ctx context.Context, id int64, reason string) error
	MarkDeliveryDeferred(ctx context.Context, id int64, reason string) error
}

// Renderer renders one reader's digest; *render.Renderer implements it.
type Renderer interface {
	Render(in render.Input) (render.Output, error)
}

// Sender sends one message over SMTP; *mailer.Sender implements it.
type Sender interface {
	Send(ctx context.Context, m mailer.Message) error
}

// Links makes a reader's personal URLs; *links.Builder implements it.
type Links interface {
	Unsubscribe(subscriberID int64) string
	Preferences(subscriberID int64) string
}

// Options configure a Pass.
type Options struct {
	Regions             digest.Regions
	From                string        // "Name <addr@domain>"
	ListID              string        // List-Id header value
	MessageIDDomain     string        // right-hand side of Message-IDs: the From domain
	FirstDigestLookback time.Duration // how far back a reader's first digest reaches
	// LateBriefGrace is how long before a reader's last cut-off a brief
	// may have been published and still reach them, when it was stored
	// only after that digest went out (an import that ran late).
	LateBriefGrace time.Duration
}

// Pass runs digest passes. It is safe to reuse across passes but not to run
// two passes of one Pass at once (the scheduler never does).
type Pass struct {
	store    Store
	renderer Renderer
	sender   Sender
	links    Links
	opts     Options
	logger   *slog.Logger
	now      func() time.Time // the clock that stamps sent_at
}

// New returns a Pass. now stamps send times; the pass's notion of "now" for
// who is due and which briefs are new is the argument to Run.
func New(store Store, renderer Renderer, sender Sender, links Links, opts Options, logger *slog.Logger, now func() time.Time) *Pass {
	if opts.FirstDigestLookback <= 0 {
		opts.FirstDigestLookback = 24 * time.Hour
	}
	if opts.LateBriefGrace < 0 {
		opts.LateBriefGrace = 0
	}
	if now == nil {
		now = time.Now
	}
	return &Pass{store: store, renderer: renderer, sender: sender, links: links, opts: opts, logger: logger, now: now}
}

// Outcome is what a pass did for one reader.
type Outcome string

// Outcomes of a pass for one reader.
const (
	OutcomeSent          Outcome = "sent"           // accepted by the SMTP server (or would be: dry run)
	OutcomeDeferred      Outcome = "deferred"       // refused for now (4xx, network); the next pass retries
	OutcomeFailed        Outcome = "failed"         // refused for good (not retried), or a local error (retried)
	OutcomeNothingNew    Outcome = "nothing-new"    // due, but no brief they have not had
	OutcomeNotDue        Outcome = "not-due"        // their local send time has not come yet today
	OutcomeAlreadySent   Outcome = "already-sent"   // today's digest went out earlier
	OutcomeFailedEarlier Outcome = "failed-earlier" // today's digest was refused for good by an earlier pass
)

// Item reports one reader of a pass.
type Item struct {
	Subscriber digest.Subscriber
	Date       digest.Date // the reader's local day
	Outcome    Outcome
	DeliveryID int64
	MessageID  string
	BriefIDs   []int64
	Subject    string
	HTMLBytes  int
	TextBytes  int
	Err        error
}

// Report summarises a pass.
type Report struct {
	Now    time.Time
	DryRun bool
	Items  []Item
}

// Count returns how many readers had the given outcome.
func (r Report) Count(o Outcome) int {
	n := 0
	for _, it := range r.Items {
		if it.Outcome == o {
			n++
		}
	}
	return n
}

// RunOptions change one pass.
type RunOptions struct {
	// DryRun renders and reports without sending or recording anything.
	DryRun bool
}

// Run runs one pass as of now. A reader whose digest could not be sent is
// reported in the Report (and, if the failure was temporary, retried by the
// next pass). Run returns an error, with the Report so far, when the pass
// could not go on: database unreachable, ctx cancelled, or the SMTP server
// unreachable (ErrSMTPUnavailable).
func (p *Pass) Run(ctx context.Context, now time.Time, ro RunOptions) (Report, error) {
	rep := Report{Now: now, DryRun: ro.DryRun}
	subs, err := p.store.ActiveSubscribers(ctx)
	if err != nil {
		return rep, fmt.Errorf("list active subscribers: %w", err)
	}
	zones := map[string]*time.Location{}
	for _, sub := range subs {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		loc, err := p.location(zones, sub.TimeZone)
		if err != nil {
			rep.Items = append(rep.Items, Item{Subscriber: sub, Outcome: OutcomeFailed, Err: err})
			p.logger.Error("subscriber has an unusable time zone", "subscriber", sub.ID, "err", err)
			continue
		}
		item := p.runOne(ctx, sub, now.In(loc), ro)
		rep.Items = append(rep.Items, item)
		if item.Err != nil && ctx.Err() != nil {
			return rep, ctx.Err()
		}
		if se := (*mailer.SendError)(nil); errors.As(item.Err, &se) && se.Connecting {
			// The server cannot be reached: every other reader would fail
			// the same way, each after a timeout. Stop; the next pass
			// picks up where this one left off.
			return rep, fmt.Errorf("pass stopped after %d of %d readers: %w: %w", len(rep.Items), len(subs), ErrSMTPUnavailable, se)
		}
	}
	p.logger.Info("pass done", "now", now.UTC().Format(time.RFC3339), "dry_run", ro.DryRun,
		"active", len(subs), "sent", rep.Count(OutcomeSent), "deferred", rep.Count(OutcomeDeferred), "failed", rep.Count(OutcomeFailed),
		"nothing_new", rep.Count(OutcomeNothingNew), "not_due", rep.Count(OutcomeNotDue),
		"already_sent", rep.Count(OutcomeAlreadySent))
	return rep, nil
}

func (p *Pass) location(cache map[string]*time.Location, name string) (*time.Location, error) {
	if loc, ok := cache[name]; ok {
		return loc, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("load time zone %q: %w", name, err)
	}
	cache[name] = loc
	return loc, nil
}

// runOne handles one reader; local is the pass instant in the reader's zone.
func (p *Pass) runOne(ctx context.Context, sub digest.Subscriber, local time.Time, ro RunOptions) Item {
	item := Item{Subscriber: sub, Date: digest.DateOf(local)}
	y, m, d := local.Date()
	if local.Before(sub.SendTime.On(y, m, d, local.Location())) {
		item.Outcome = OutcomeNotDue
		return item
	}

	existing, err := p.store.DeliveryFor(ctx, sub.ID, item.Date)
	switch {
	case err == nil && existing.Status == digest.DeliverySent:
		item.Outcome = OutcomeAlreadySent
		item.DeliveryID, item.MessageID = existing.ID, existing.MessageID
		return item
	case err == nil && existing.Status == digest.DeliveryFailed:
		item.Outcome = OutcomeFailedEarlier
		item.DeliveryID, item.MessageID = existing.ID, existing.MessageID
		return item
	case err != nil && !errors.Is(err, digest.ErrNotFound):
		return p.fail(item, fmt.Errorf("look up today's delivery: %w", err))
	}
	found := err == nil

	// Briefs published since the last digest's cut-off, plus any published
	// a little before it that were stored too late to make that digest;
	// what a sent digest already carried is never carried again.
	after := sub.Watermark.Add(-p.opts.LateBriefGrace)
	if sub.Watermark.IsZero() {
		after = local.Add(-p.opts.FirstDigestLookback)
	}
	briefs, err := p.store.BriefsNotSent(ctx, sub.ID, sub.Regions, after, local)
	if err != nil {
		return p.fail(item, fmt.Errorf("gather briefs: %w", err))
	}
	sections := render.Arrange(p.opts.Regions, sub.Regions, briefs)
	for _, s := range sections {
		for _, b := range s.Briefs {
			item.BriefIDs = append(item.BriefIDs, b.ID)
		}
	}
	if len(item.BriefIDs) == 0 {
		item.Outcome = OutcomeNothingNew
		return item
	}

	out, err := p.renderer.Render(render.Input{
		Subscriber:     sub,
		Now:            local,
		Briefs:         briefs,
		UnsubscribeURL: p.links.Unsubscribe(sub.ID),
		PreferencesURL: p.links.Preferences(sub.ID),
	})
	if err != nil {
		return p.fail(item, fmt.Errorf("render digest: %w", err))
	}
	item.Subject, item.HTMLBytes, item.TextBytes = out.Subject, len(out.HTML), len(out.Text)
	if ro.DryRun {
		item.Outcome = OutcomeSent
		return item
	}

	// Record the plan before sending: the delivery's Message-ID is fixed
	// now, so a re-send of the same delivery carries the same ID.
	del := existing
	if found {
		if err := p.store.UpdateDeliveryPlan(ctx, del.ID, item.BriefIDs, local); err != nil {
			return p.fail(item, fmt.Errorf("update delivery %d: %w", del.ID, err))
		}
	} else {
		msgID, err := newMessageID(item.Date, p.opts.MessageIDDomain)
		if err != nil {
			return p.fail(item, err)
		}
		del = digest.Delivery{
			SubscriberID: sub.ID,
			DigestDate:   item.Date,
			BriefIDs:     item.BriefIDs,
			MessageID:    msgID,
			Status:       digest.DeliveryQueued,
			Cutoff:       local.UTC(),
		}
		if err := p.store.CreateDelivery(ctx, &del); err != nil {
			if errors.Is(err, digest.ErrConflict) {
				// Another pass planned this reader's day between our
				// look-up and now; it owns the send.
				item.Outcome = OutcomeAlreadySent
				return item
			}
			return p.fail(item, fmt.Errorf("record delivery: %w", err))
		}
	}
	item.DeliveryID, item.MessageID = del.ID, del.MessageID

	err = p.sender.Send(ctx, mailer.Message{
		MessageID:      del.MessageID,
		From:           p.opts.From,
		ToName:         sub.Name,
		ToEmail:        sub.Email,
		Subject:        out.Subject,
		Text:           out.Text,
		HTML:           out.HTML,
		Date:           p.now(),
		ListID:         p.opts.ListID,
		UnsubscribeURL: p.links.Unsubscribe(sub.ID),
	})
	if err != nil {
		return p.sendFailed(ctx, item, del.ID, err)
	}
	// The server has the message. Record it even if ctx is being cancelled,
	// or the next pass would send it again.
	if err := p.store.MarkDeliverySent(context.WithoutCancel(ctx), del.ID, p.now()); err != nil {
		return p.fail(item, fmt.Errorf("record sent delivery %d: %w", del.ID, err))
	}
	item.Outcome = OutcomeSent
	return item
}

// sendFailed records a refused or interrupted send. A temporary failure
// leaves the delivery queued for the next pass; a permanent one marks it
// failed. The record is written with a context that outlives a cancelled
// pass: the attempt must be on file either way.
func (p *Pass) sendFailed(ctx context.Context, item Item, deliveryID int64, err error) Item {
	var se *mailer.SendError
	temporary := !errors.As(err, &se) || se.Temporary()
	record := p.store.MarkDeliveryFailed
	item.Outcome = OutcomeFailed
	if temporary {
		record = p.store.MarkDeliveryDeferred
		item.Outcome = OutcomeDeferred
	}
	if rerr := record(context.WithoutCancel(ctx), deliveryID, err.Error()); rerr != nil {
		p.logger.Error("could not record failed send", "delivery", deliveryID, "err", rerr)
	}
	item.Err = fmt.Errorf("send digest to subscriber %d: %w", item.Subscriber.ID, err)
	p.logger.Error("digest not sent", "subscriber", item.Subscriber.ID, "delivery", deliveryID,
		"temporary", temporary, "err", err)
	return item
}

func (p *Pass) fail(item Item, err error) Item {
	item.Outcome, item.Err = OutcomeFailed, err
	p.logger.Error("digest failed", "subscriber", item.Subscriber.ID, "date", item.Date, "err", err)
	return item
}
