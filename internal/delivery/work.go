package delivery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/delivery/outbox"
	"github.com/newsroom/digest/internal/mailer"
	"golang.org/x/time/rate"
)

// work runs the workers until nothing is claimable or ctx is done. clock
// is the pass's clock (see Run).
func (o *Outbox) work(ctx context.Context, clock func() time.Time, t *tally, tm *Timings) error {
	// Sends in flight outlive ctx by ShutdownGrace: stopping means no new
	// claims, not cutting a message in half.
	sendCtx, cancelSends := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSends()
	stopGrace := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(o.opts.ShutdownGrace, cancelSends)
		context.AfterFunc(sendCtx, func() { t.Stop() })
	})
	defer stopGrace()

	var (
		mu          sync.Mutex
		unreachable int
		errs        []error
		wg          sync.WaitGroup
		lim         = o.limiter()
		cache       = newBriefCache(o.store)
		groups      = newRenderGroups(o.renderer, o.logger)
		l           = newLedger(o.store, clock, o.opts.Concurrency)
		ledgerDone  = make(chan struct{})
	)
	go func() {
		defer close(ledgerDone)
		l.run()
	}()
	for w := range o.opts.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lost, err := o.worker(ctx, sendCtx, w, clock, lim, cache, groups, t, l)
			l.leave()
			mu.Lock()
			defer mu.Unlock()
			if lost {
				unreachable++
			}
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	l.close()
	<-ledgerDone
	tm.LedgerRounds, tm.LedgerRecorded = l.rounds, l.recorded
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// A worker that cannot connect stops; if none got a message through,
	// the server is down (or misconfigured) for this pass.
	if unreachable > 0 && t.count(OutcomeSent) == 0 {
		return fmt.Errorf("%w: %w", ErrSMTPUnavailable, t.lastError())
	}
	return nil
}

// claimBatch is how many deliveries a worker claims at a time. Claimed but
// not yet sent, they are released when the pass stops and re-queued after
// a crash; only the one on the wire can reach a reader twice.
const claimBatch = 8

// errHeldBack is the end of a message's DATA not written because the
// ledger failed to record the message before: the server never took it.
var errHeldBack = errors.New("message held back: the previous outcome was not recorded")

// finished is a delivery a worker is done with: what to report and what
// the ledger records.
type finished struct {
	item   Item
	result outbox.Result
}

// worker sends claimed deliveries one at a time over its own SMTP
// connection. It hands each outcome to the ledger and goes on with the
// next message at once, but holds back that message's end of DATA until
// the ledger has committed the outcome before (see ledger). It stops when
// nothing is claimable, when ctx is done, or (lost) when its server cannot
// be reached.
func (o *Outbox) worker(ctx, sendCtx context.Context, n int, clock func() time.Time, lim *rate.Limiter, cache *briefCache,
	groups *renderGroups, t *tally, l *ledger) (lost bool, err error) {
	var sender Sender
	defer func() {
		if sender != nil {
			if cerr := sender.Close(); cerr != nil {
				o.logger.Debug("closing smtp connection", "worker", n, "err", cerr)
			}
		}
	}()
	holder := fmt.Sprintf("%s/w%d", o.opts.Holder, n)
	var (
		queue   []outbox.Claim
		body    bodies         // the message being sent; its buffers are reused
		done    []finished     // outcomes not yet handed to the ledger
		pending *settleRequest // handed, answer not yet taken
		handed  []finished     // what pending records
		lerr    error          // the ledger failed; nothing more is sent
	)
	// await takes the ledger's answer to pending, if there is one: it
	// reports what was recorded and queues what was claimed. It is the
	// ready gate of every message, and returns the ledger's failure for
	// good once there was one.
	await := func() error {
		if pending != nil {
			s := <-pending.done
			for i, f := range handed {
				o.account(f, s, i, t)
			}
			queue = append(queue, s.claims...)
			pending, handed = nil, nil
			if s.err != nil && lerr == nil {
				lerr = s.err
			}
		}
		return lerr
	}
	// ready is await as a message's gate: a message whose DATA it stops is
	// held back, not failed.
	ready := func() error {
		if err := await(); err != nil {
			return fmt.Errorf("%w: %w", errHeldBack, err)
		}
		return nil
	}
	// submit hands done to the ledger with a claim for want more, without
	// waiting. Only one request is outstanding at a time.
	submit := func(want int) {
		results := make([]outbox.Result, len(done))
		for i, f := range done {
			results[i] = f.result
		}
		pending, handed, done = l.submit(results, outbox.ClaimRequest{Holder: holder, N: want}), done, nil
	}
	// settle hands done to the ledger, when there is anything to say, and
	// waits for the answer.
	settle := func(want int) error {
		if err := await(); err != nil {
			return err
		}
		if len(done) > 0 || want > 0 {
			submit(want)
		}
		return await()
	}
	// giveBack releases the claimed deliveries not yet attempted, those
	// the ledger's last answer brings included.
	giveBack := func(reason string, cause error) {
		_ = await()
		for _, c := range queue {
			done = append(done, o.release(o.itemOf(c), reason, cause))
		}
		queue = nil
	}
	// stop gives back what is claimed and records it before the worker
	// returns.
	stop := func(reason string, cause error) {
		giveBack(reason, cause)
		_ = settle(0)
	}
	for {
		if len(queue) == 0 {
			if err := await(); err != nil {
				return false, fmt.Errorf("record deliveries: %w", err)
			}
		}
		if len(queue) == 0 {
			want := 0
			if ctx.Err() == nil {
				want = claimBatch
			}
			if err := settle(want); err != nil {
				// Nothing of that round was recorded. What this worker
				// holds stays "sending" for the next start to re-queue.
				return false, fmt.Errorf("record deliveries: %w", err)
			}
			if len(queue) == 0 {
				return false, nil
			}
		}
		if err := ctx.Err(); err != nil {
			giveBack("pass stopped before sending", err)
			continue
		}
		if sender == nil {
			if sender, err = o.newSender(); err != nil {
				stop("no smtp sender: "+err.Error(), err)
				return true, fmt.Errorf("open smtp sender: %w", err)
			}
		}
		c := queue[0]
		queue = queue[1:]
		f, unreachable := o.deliver(ctx, sendCtx, sender, clock, lim, cache, groups, &body, c, ready)
		if err := await(); err != nil {
			// The round before was not recorded, so this message was held
			// back (or never offered): it stays "sending", with the rest
			// this worker holds, for the next start to re-queue.
			f.item.Outcome, f.item.Err = OutcomeInterrupted, err
			t.add(f.item)
			return false, fmt.Errorf("record deliveries: %w", err)
		}
		done = append(done, f)
		if unreachable {
			stop("smtp server unreachable", f.item.Err)
			return true, nil
		}
		if f.item.Outcome == OutcomeInterrupted && ctx.Err() == nil {
			// The database could not give what the delivery needs. It was
			// released, and claiming on would take it straight back in a
			// tight loop: stop, and let the pass report the error.
			stop("worker stopped: "+f.item.Err.Error(), f.item.Err)
			return false, f.item.Err
		}
		// Ask for more while one delivery is still queued, so that the
		// claim's answer arrives while that one is being sent.
		want := 0
		if len(queue) <= 1 && ctx.Err() == nil {
			want = claimBatch
		}
		submit(want)
	}
}

// account reports f once the ledger has answered: the item counts, the
// observer hears of recorded states, and anything not recorded is logged.
func (o *Outbox) account(f finished, s settled, i int, t *tally) {
	item, r := f.item, f.result
	switch {
	case s.err != nil:
		if r.Status == digest.DeliverySent {
			// The server has the message; failing to record it means a
			// re-send with the same Message-ID after recovery.
			item.Outcome, item.Err = OutcomeFailed, fmt.Errorf("record sent delivery %d: %w", r.DeliveryID, s.err)
			o.logger.Error("message accepted but not recorded; it will be sent again with the same Message-ID",
				"delivery", r.DeliveryID, "err", s.err)
		} else {
			o.logger.Error("could not record delivery; the next start recovers it", "delivery", r.DeliveryID,
				"status", r.Status, "err", s.err)
		}
	case s.refused[i] != nil:
		o.logger.Error("the ledger refused an outcome", "delivery", r.DeliveryID, "status", r.Status, "err", s.refused[i])
	case r.Status != digest.DeliveryQueued:
		o.observer.DeliveryDone(r.Status)
	}
	t.add(item)
}

// itemOf starts the report item of a claimed delivery.
func (o *Outbox) itemOf(c outbox.Claim) Item {
	d := c.Delivery
	return Item{Subscriber: c.Subscriber, Date: d.DigestDate, DeliveryID: d.ID, MessageID: d.MessageID,
		BriefIDs: d.BriefIDs, Attempts: d.Attempts}
}

// deliver renders, into body, and sends one claimed delivery and says
// what to record; the message's end of DATA waits for ready. clock dates
// the message and decides what a refusal leads to. unreachable reports
// that the SMTP server could not be reached at all.
func (o *Outbox) deliver(ctx, sendCtx context.Context, sender Sender, clock func() time.Time, lim *rate.Limiter, cache *briefCache,
	groups *renderGroups, body *bodies, c outbox.Claim, ready func() error) (f finished, unreachable bool) {
	d, sub := c.Delivery, c.Subscriber
	item := o.itemOf(c)
	if sub.ID == 0 {
		return o.suppress(item, "subscriber no longer exists"), false
	}
	if sub.Status != digest.StatusActive {
		return o.suppress(item, "subscriber is "+string(sub.Status)), false
	}
	briefs, err := cache.get(context.WithoutCancel(ctx), d.BriefIDs)
	if err != nil {
		return o.release(item, err.Error(), err), false
	}
	in, err := o.renderInput(sub, d, briefs)
	if err != nil {
		return o.failed(item, err, false), false
	}
	if err := groups.renderBodies(in, body); err != nil {
		return o.failed(item, fmt.Errorf("render digest: %w", err), false), false
	}
	item.Subject, item.HTMLBytes, item.TextBytes = body.split.Subject, body.html.Len(), body.text.Len()
	if lim != nil {
		if err := lim.Wait(ctx); err != nil {
			return o.release(item, "pass stopped before sending", err), false
		}
	}
	// The parts go in pieces (see bodies), not as strings.
	msg := o.message(sub, body.split.Subject, in.UnsubscribeURL, d.MessageID, clock())
	msg.Text, msg.HTML = body.text, body.html
	if o.opts.EnvelopeFrom != nil {
		msg.EnvelopeFrom = o.opts.EnvelopeFrom(d.ID)
	}
	err = sender.SendWhen(sendCtx, msg, ready)
	return o.outcome(item, d, err, sendCtx.Err() != nil, clock())
}

// outcome turns the SMTP outcome, at now, into the delivery's next state.
func (o *Outbox) outcome(item Item, d digest.Delivery, err error, cutShort bool, now time.Time) (finished, bool) {
	if err == nil {
		o.observer.SMTPReply("2xx")
		item.Outcome = OutcomeSent
		return finished{item, outbox.Result{DeliveryID: d.ID, Status: digest.DeliverySent, SentAt: now, Reason: "250 accepted"}}, false
	}
	if errors.Is(err, errHeldBack) {
		// The worker stops right after (its ledger failed), so this is
		// never recorded; returning here keeps the failure out of the
		// SMTP metrics and the retry log.
		return o.release(item, err.Error(), err), false
	}
	var se *mailer.SendError
	if !errors.As(err, &se) {
		se = &mailer.SendError{MessageID: d.MessageID, Err: err}
	}
	o.observer.SMTPReply(replyClass(se))
	switch {
	case cutShort:
		// The grace period ran out mid-send. The server may or may not
		// have the message; the same Message-ID lets a receiver fold a
		// second copy.
		return o.release(item, "pass stopped mid-send: "+err.Error(), err), false
	case se.Connecting:
		o.logger.Error("cannot reach the smtp server", "delivery", d.ID, "err", err)
		f := o.release(item, "smtp server unreachable: "+err.Error(), err)
		f.item.Outcome = OutcomeDeferred
		return f, true
	case se.Temporary():
		return o.deferOrGiveUp(item, d, err, now), false
	}
	// A permanent refusal. Only a verdict on the recipient's address
	// (5.1.x, 5.2.x) counts against the reader; a policy or sender-side
	// refusal (5.7.x) is ours to fix.
	bounce := recipientFault(se)
	f := o.failed(item, err, bounce)
	if strings.HasPrefix(se.EnhancedCode, "5.7.") {
		o.logger.Error("operator alert: the smtp server refused a digest for a reason on the sending side; the reader is not blamed",
			"alert", true, "delivery", d.ID, "code", se.Code, "enhanced", se.EnhancedCode, "err", err)
	}
	return f, false
}

// deferOrGiveUp defers a delivery refused at now, with backoff, unless it
// has used up its attempts or its retry window.
func (o *Outbox) deferOrGiveUp(item Item, d digest.Delivery, err error, now time.Time) finished {
	outOfWindow := !d.DueAt.IsZero() && now.After(d.DueAt.Add(o.opts.RetryWindow))
	if d.Attempts >= o.opts.MaxAttempts || outOfWindow {
		return o.failed(item, fmt.Errorf("gave up after %d attempts: %w", d.Attempts, err), false)
	}
	next := now.Add(o.backoff(d.Attempts))
	o.observer.Retry()
	o.logger.Warn("digest deferred", "delivery", d.ID, "subscriber", d.SubscriberID, "attempt", d.Attempts,
		"next_attempt", next.UTC().Format(time.RFC3339), "err", err)
	item.Outcome, item.Err = OutcomeDeferred, err
	return finished{item, outbox.Result{DeliveryID: d.ID, Status: digest.DeliveryDeferred, Next: next, Reason: err.Error()}}
}

// backoff is the wait after the given attempt: RetryBase doubling per
// attempt up to RetryMax, spread by ±20% so that deferred messages do not
// come back all at once.
func (o *Outbox) backoff(attempt int) time.Duration {
	d := o.opts.RetryBase
	for i := 1; i < attempt && d < o.opts.RetryMax; i++ {
		d *= 2
	}
	d = min(d, o.opts.RetryMax)
	return time.Duration(float64(d) * (0.8 + 0.4*o.jitter()))
}

func (o *Outbox) failed(item Item, err error, bounce bool) finished {
	o.logger.Error("digest failed", "delivery", item.DeliveryID, "subscriber", item.Subscriber.ID, "bounced", bounce, "err", err)
	item.Outcome, item.Err = OutcomeFailed, err
	return finished{item, outbox.Result{DeliveryID: item.DeliveryID, Status: digest.DeliveryFailed, Reason: err.Error(), Bounce: bounce}}
}

func (o *Outbox) suppress(item Item, reason string) finished {
	item.Outcome, item.Err = OutcomeSuppressed, errors.New(reason)
	return finished{item, outbox.Result{DeliveryID: item.DeliveryID, Status: digest.DeliverySuppressed, Reason: reason}}
}

// release hands a claimed delivery back to the queue without charging an
// attempt: the message never reached the server (or may not have, when a
// stop cut it short). The item reports it interrupted, for cause.
func (o *Outbox) release(item Item, reason string, cause error) finished {
	item.Outcome, item.Err = OutcomeInterrupted, cause
	return finished{item, outbox.Result{DeliveryID: item.DeliveryID, Status: digest.DeliveryQueued, Reason: reason}}
}

// recipientFault reports whether a permanent refusal is about the
// recipient's address (RFC 3463 classes 5.1 addressing, 5.2 mailbox).
func recipientFault(se *mailer.SendError) bool {
	return strings.HasPrefix(se.EnhancedCode, "5.1.") || strings.HasPrefix(se.EnhancedCode, "5.2.")
}

func replyClass(se *mailer.SendError) string {
	switch {
	case se.Code >= 400 && se.Code < 500:
		return "4xx"
	case se.Code >= 500 && se.Code < 600:
		return "5xx"
	}
	return "network"
}
