// Package delivery runs digest passes as an outbox. A pass first plans:
// it pages through the active readers and stores one queued delivery row
// per due reader, with its briefs and Message-ID, a short transaction per
// page. Then workers, each with its own SMTP connection, claim rows a few
// at a time, render them (once per distinct digest, personalised per
// reader), send, and hand what the server said to the ledger, which
// records the outcomes of a round of workers and claims their next rows in
// one transaction. A delivery is marked sent, and the reader's watermark
// moves, only after the server accepted the message, and a worker ends its
// next message's DATA (the final ".") only once that is committed: a crash
// leaves at most one accepted-but-unrecorded message per worker, which the
// next start sends again with the same Message-ID.
package delivery

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/delivery/outbox"
	"github.com/newsroom/digest/internal/mailer"
	"github.com/newsroom/digest/internal/render"
	"golang.org/x/time/rate"
)

// ErrSMTPUnavailable means a pass stopped because the SMTP server could not
// be reached; the deliveries it did not send stay queued for the next pass.
var ErrSMTPUnavailable = errors.New("smtp server unavailable")

// Store is what a pass needs from the database; *sqlite.DB implements it.
type Store interface {
	BriefsByID(ctx context.Context, ids []int64) ([]digest.Brief, error)

	// ActivePage, RecentDeliveries and BriefHeads are what choosing the
	// briefs of a page of readers (or of one, in Preview) reads;
	// digest.Selection chooses.
	ActivePage(ctx context.Context, afterID int64, limit int) ([]digest.Subscriber, error)
	// RecentDeliveries returns the deliveries dated on or after since, and
	// the sent ones cut off after sentAfter, each once, by subscriber.
	RecentDeliveries(ctx context.Context, subscriberIDs []int64, since digest.Date, sentAfter time.Time) ([]digest.Delivery, error)
	BriefHeads(ctx context.Context, after, upTo time.Time) ([]digest.BriefHead, error)
	PlanDeliveries(ctx context.Context, ds []*digest.Delivery) (int, error)
	RecoverSending(ctx context.Context) (int, error)
	// CatchUpWatermarks moves the watermarks of readers sent a digest
	// since it last ran (Settle leaves them; see Run).
	CatchUpWatermarks(ctx context.Context) (int, error)
	ExpireLate(ctx context.Context, now time.Time, maxLateness time.Duration) (int, error)
	// Settle records outcomes and claims deliveries in one transaction
	// (see ledger).
	Settle(ctx context.Context, now time.Time, results []outbox.Result, claims []outbox.ClaimRequest) ([][]outbox.Claim, []error, error)
	// QueueDepth is how many deliveries are queued or deferred.
	QueueDepth(ctx context.Context) (int, error)
}

// Renderer renders digests; *render.Renderer implements it. Every digest,
// a pass's or a preview's, is prepared for its group (Prepare) and applied
// to its reader, so a preview is what a pass sends; a pass keys the groups
// it shares by GroupKey (see renderGroups).
type Renderer interface {
	GroupKey(in render.Input) (string, error)
	Prepare(in render.Input) (*render.Prepared, error)
	// Render is one reader's digest as a group of one: Prepare, then the
	// reader applied.
	Render(in render.Input) (render.Output, error)
}

// Sender sends messages over one SMTP connection; *mailer.Sender
// implements it.
type Sender interface {
	// SendWhen sends m, ending its DATA (the point at which the server
	// takes the message) only once ready returns nil; see
	// mailer.Sender.SendWhen.
	SendWhen(ctx context.Context, m mailer.Message, ready func() error) error
	Close() error
}

// Links makes a reader's personal URLs; *links.Builder implements it.
type Links interface {
	Unsubscribe(subscriberID int64) string
	Preferences(subscriberID int64) string
}

// Options configure an Outbox. Zero values take the defaults in parentheses.
type Options struct {
	Regions             digest.Regions
	From                string        // "Name <addr@domain>"
	ListID              string        // List-Id header value
	MessageIDDomain     string        // right-hand side of Message-IDs: the From domain
	FirstDigestLookback time.Duration // how far back a reader's first digest reaches (24h)
	// LateBriefGrace is how long before a reader's last cut-off a brief
	// may have been published and still reach them, when it was stored
	// only after that digest went out (an import that ran late).
	LateBriefGrace time.Duration

	Concurrency   int           // workers, each with its own SMTP connection (4)
	Rate          float64       // messages per second across all workers; 0 for no limit
	MaxAttempts   int           // attempts before a deferred delivery fails (8)
	RetryWindow   time.Duration // how long after its send time a delivery is retried at all (4h)
	RetryBase     time.Duration // first backoff; doubles per attempt, with jitter (1m)
	RetryMax      time.Duration // longest backoff (30m)
	MaxLateness   time.Duration // a delivery this long past its reader's send time expires unsent (6h)
	ShutdownGrace time.Duration // how long in-flight sends may finish once a pass is told to stop (30s)
	// Holder names this process in claims and events ("host:pid").
	Holder string
	// EnvelopeFrom, when set, returns the MAIL FROM address for a delivery
	// (a VERP address naming it); the From address otherwise.
	EnvelopeFrom func(deliveryID int64) string
}

func (o *Options) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.FirstDigestLookback, 24*time.Hour)
	def(&o.RetryWindow, 4*time.Hour)
	def(&o.RetryBase, time.Minute)
	def(&o.RetryMax, 30*time.Minute)
	def(&o.MaxLateness, 6*time.Hour)
	def(&o.ShutdownGrace, 30*time.Second)
	if o.LateBriefGrace < 0 {
		o.LateBriefGrace = 0
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.Holder == "" {
		o.Holder = "digest"
	}
}

// Observer hears what a pass does, for metrics. Every method must be safe
// for concurrent use. Nil means nobody listens.
type Observer interface {
	DeliveryDone(status digest.DeliveryStatus) // a delivery reached a state in this pass
	SMTPReply(class string)                    // "2xx", "4xx", "5xx", "network"
	Retry()                                    // a delivery was deferred for a later attempt
	PassDone(d time.Duration, queueDepth int)  // a pass ended, leaving queueDepth queued or deferred
}

// Outbox is the queue of digests that passes fill and drain: each Run
// plans who is due, sends and records; Preview shows one reader's digest
// without recording. Run is not safe to call concurrently: the lease and
// the scheduler make sure only one pass runs against a database.
type Outbox struct {
	store     Store
	renderer  Renderer
	newSender func() (Sender, error)
	links     Links
	opts      Options
	selection digest.Selection
	logger    *slog.Logger
	now       func() time.Time
	observer  Observer
	jitter    func() float64 // in [0, 1)
	zones     sync.Map       // zone name → *time.Location, see location
}

// New returns an Outbox. newSender opens one SMTP sender per worker. now
// measures how time passes during a pass: a pass's clock, for everything
// it decides and stamps, is the instant given to Run advanced by now (see
// Run).
func New(store Store, renderer Renderer, newSender func() (Sender, error), links Links, opts Options,
	logger *slog.Logger, now func() time.Time, observer Observer) *Outbox {
	opts.setDefaults()
	if now == nil {
		now = time.Now
	}
	if observer == nil {
		observer = nopObserver{}
	}
	return &Outbox{store: store, renderer: renderer, newSender: newSender, links: links, opts: opts,
		selection: digest.Selection{FirstDigestLookback: opts.FirstDigestLookback, LateBriefGrace: opts.LateBriefGrace},
		logger:    logger, now: now, observer: observer, jitter: rand.Float64}
}

// Outcome is what a pass did for one reader.
type Outcome string

// Outcomes of a pass for one reader.
const (
	OutcomeSent          Outcome = "sent"           // accepted by the SMTP server (or would be: dry run)
	OutcomeDeferred      Outcome = "deferred"       // refused for now (4xx, network); retried later, same Message-ID
	OutcomeFailed        Outcome = "failed"         // refused for good, out of attempts, or could not be built
	OutcomeSuppressed    Outcome = "suppressed"     // the reader left after the digest was planned
	OutcomeInterrupted   Outcome = "interrupted"    // the pass stopped before this delivery was sent; it stays queued
	OutcomeNothingNew    Outcome = "nothing-new"    // due, but no brief they have not had
	OutcomeNotDue        Outcome = "not-due"        // their local send time has not come yet today
	OutcomeAlreadySent   Outcome = "already-sent"   // today's digest went out earlier
	OutcomeFailedEarlier Outcome = "failed-earlier" // today's digest failed, expired or was suppressed earlier
	OutcomeWaiting       Outcome = "waiting"        // today's digest is deferred until its next attempt
)

// Item reports one reader or delivery of a pass.
type Item struct {
	Subscriber digest.Subscriber
	Date       digest.Date // the reader's local day
	Outcome    Outcome
	DeliveryID int64
	MessageID  string
	BriefIDs   []int64
	Attempts   int
	Subject    string
	HTMLBytes  int
	TextBytes  int
	Err        error
}

// Report summarises a pass.
type Report struct {
	Now       time.Time
	DryRun    bool
	Planned   int // deliveries created by this pass
	Recovered int // deliveries found "sending" from a sender that stopped, re-queued
	Expired   int // deliveries too late to send, marked expired
	Queue     int // deliveries queued or deferred when the pass ended
	// Counts has how many readers or deliveries had each outcome, always
	// complete.
	Counts map[Outcome]int
	// Items lists readers and deliveries one by one, up to
	// RunOptions.MaxItems; Omitted says how many more there were.
	Items   []Item
	Omitted int
	// SentBytes is the size of the digests sent (HTML and text, as in
	// Item), all of them.
	SentBytes int64
	Timings   Timings
}

// Timings is the wall time of each phase of a pass. Planning goes a page
// of readers at a time, writing one page while deciding the next, so Plan
// and Store are each summed over the pages and overlap.
type Timings struct {
	Prepare time.Duration // re-queue what a dead sender left, expire what is late, catch up watermarks
	Plan    time.Duration // decide who is due with which briefs (reads)
	Store   time.Duration // write the planned deliveries, a transaction per page
	Work    time.Duration // render, send and record (a dry run: render)
	Finish  time.Duration // catch up the watermarks of the readers sent a digest
	// LedgerRounds is how many transactions recorded the work's outcomes
	// and claims; LedgerRecorded how many outcomes they recorded. Their
	// ratio is how well recording is batched: at best the number of
	// workers.
	LedgerRounds, LedgerRecorded int
}

// Count returns how many readers or deliveries had the given outcome.
func (r Report) Count(o Outcome) int { return r.Counts[o] }

// RunOptions change one pass.
type RunOptions struct {
	// DryRun plans and renders without recording or sending anything.
	DryRun bool
	// MaxItems bounds the items a report keeps, so that a pass over a
	// million readers does not hold a million items: 0 keeps them all, a
	// negative value none. Counts are complete either way.
	MaxItems int
}

// Run runs one pass as of now: re-queue what a dead sender left mid-send,
// expire what is too late, plan the readers who are due, and work the queue
// until nothing is claimable. Cancelling ctx stops claiming; messages in
// flight get ShutdownGrace to finish and are recorded either way. Run
// returns the report so far with ctx's error, or with ErrSMTPUnavailable
// when no worker could reach the SMTP server.
//
// now is the pass's clock, advanced by the time the pass takes (measured
// with New's now): who is due, what expires, retry windows, backoff, when
// a deferred delivery is due again, and the times recorded. A pass as of
// an earlier instant (send --now) thus decides as a pass then would have,
// whatever the wall clock says.
func (o *Outbox) Run(ctx context.Context, now time.Time, ro RunOptions) (Report, error) {
	start := o.now()
	clock := func() time.Time { return now.Add(o.now().Sub(start)) }
	rep := Report{Now: now, DryRun: ro.DryRun}
	t := newTally(ro.MaxItems)
	report := func(err error) (Report, error) {
		t.fill(&rep)
		return rep, err
	}
	mark := time.Now() // phases are measured on the wall clock, whatever o.now says
	lap := func(d *time.Duration) { t := time.Now(); *d = t.Sub(mark); mark = t }
	if !ro.DryRun {
		var err error
		if rep.Recovered, err = o.store.RecoverSending(ctx); err != nil {
			return report(err)
		}
		if rep.Recovered > 0 {
			o.logger.Warn("re-queued deliveries left mid-send by a sender that stopped; they go out again with the same Message-ID",
				"count", rep.Recovered)
		}
		if rep.Expired, err = o.store.ExpireLate(ctx, now, o.opts.MaxLateness); err != nil {
			return report(err)
		}
		for range rep.Expired {
			o.observer.DeliveryDone(digest.DeliveryExpired)
		}
		// Planning reads watermarks: bring in what an earlier pass sent
		// but did not get to catch up (it stopped before its end).
		if _, err := o.store.CatchUpWatermarks(ctx); err != nil {
			return report(err)
		}
	}
	lap(&rep.Timings.Prepare)
	// Planning reads and writes a page of readers at a time; plan sums
	// each kind of time over the pages itself.
	var err error
	rep.Planned, err = o.plan(ctx, now, ro.DryRun, t, &rep.Timings)
	mark = time.Now()
	if err != nil || ro.DryRun {
		return report(err)
	}
	workErr := o.work(ctx, clock, t, &rep.Timings)
	lap(&rep.Timings.Work)
	// Settle recorded the sent deliveries without moving their readers'
	// watermarks; move them now, each reader once. Should this fail, the
	// next pass does it before planning, and until then a lagging
	// watermark widens a window, never sends a brief twice (see
	// sqlite.CatchUpWatermarks).
	if _, err := o.store.CatchUpWatermarks(context.WithoutCancel(ctx)); err != nil {
		o.logger.Warn("could not catch up the watermarks of readers sent a digest; the next pass will", "err", err)
	}
	lap(&rep.Timings.Finish)

	if depth, err := o.store.QueueDepth(context.WithoutCancel(ctx)); err == nil {
		rep.Queue = depth
	} else {
		o.logger.Warn("could not read the queue depth", "err", err)
	}
	o.observer.PassDone(o.now().Sub(start), rep.Queue)
	o.logger.Info("pass done", "now", now.UTC().Format(time.RFC3339), "planned", rep.Planned,
		"sent", t.count(OutcomeSent), "deferred", t.count(OutcomeDeferred), "failed", t.count(OutcomeFailed),
		"suppressed", t.count(OutcomeSuppressed), "expired", rep.Expired, "recovered", rep.Recovered,
		"nothing_new", t.count(OutcomeNothingNew), "not_due", t.count(OutcomeNotDue), "queue", rep.Queue,
		"duration", o.now().Sub(start).Round(time.Millisecond).String())
	if workErr != nil {
		return report(workErr)
	}
	return report(ctx.Err())
}

type nopObserver struct{}

func (nopObserver) DeliveryDone(digest.DeliveryStatus) {}
func (nopObserver) SMTPReply(string)                   {}
func (nopObserver) Retry()                             {}
func (nopObserver) PassDone(time.Duration, int)        {}

// limiter returns the shared token bucket for Rate, or nil for no limit. A
// burst of one spreads sends evenly instead of bunching them.
func (o *Outbox) limiter() *rate.Limiter {
	if o.opts.Rate <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(o.opts.Rate), 1)
}

// briefCache loads each brief once per pass, whichever worker asks first.
type briefCache struct {
	store Store
	mu    sync.Mutex
	byID  map[int64]digest.Brief
}

func newBriefCache(store Store) *briefCache {
	return &briefCache{store: store, byID: map[int64]digest.Brief{}}
}

func (c *briefCache) get(ctx context.Context, ids []int64) ([]digest.Brief, error) {
	c.mu.Lock()
	var missing []int64
	for _, id := range ids {
		if _, ok := c.byID[id]; !ok {
			missing = append(missing, id)
		}
	}
	c.mu.Unlock()
	if len(missing) > 0 {
		bs, err := c.store.BriefsByID(ctx, missing)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		for _, b := range bs {
			c.byID[b.ID] = b
		}
		c.mu.Unlock()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]digest.Brief, 0, len(ids))
	for _, id := range ids {
		out = append(out, c.byID[id])
	}
	return out, nil
}
