package delivery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/mailer"
	"golang.org/x/time/rate"
)

// work runs the workers until nothing is claimable or ctx is done.
func (p *Pass) work(ctx context.Context, t *tally) error {
	// Sends in flight outlive ctx by ShutdownGrace: stopping means no new
	// claims, not cutting a message in half.
	sendCtx, cancelSends := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSends()
	stopGrace := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(p.opts.ShutdownGrace, cancelSends)
		context.AfterFunc(sendCtx, func() { t.Stop() })
	})
	defer stopGrace()

	var (
		mu          sync.Mutex
		unreachable int
		errs        []error
		wg          sync.WaitGroup
		lim         = p.limiter()
		cache       = &briefCache{store: p.store, byID: map[int64]digest.Brief{}}
	)
	for w := range p.opts.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lost, err := p.worker(ctx, sendCtx, w, lim, cache, t)
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
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	// A worker that cannot connect stops; if none got a message through,
	// the server is down (or misconfigured) for this pass.
	if unreachable > 0 && t.count(OutcomeSent) == 0 {
		t.mu.Lock()
		last := t.lastErr
		t.mu.Unlock()
		return fmt.Errorf("%w: %w", ErrSMTPUnavailable, last)
	}
	return nil
}

// worker claims and sends deliveries one at a time over its own SMTP
// connection. It stops when nothing is claimable, when ctx is done, or
// (lost) when its server cannot be reached.
func (p *Pass) worker(ctx, sendCtx context.Context, n int, lim *rate.Limiter, cache *briefCache, t *tally) (lost bool, err error) {
	var sender Sender
	defer func() {
		if sender != nil {
			if cerr := sender.Close(); cerr != nil {
				p.logger.Debug("closing smtp connection", "worker", n, "err", cerr)
			}
		}
	}()
	holder := fmt.Sprintf("%s/w%d", p.opts.Holder, n)
	for ctx.Err() == nil {
		// The claim runs to completion even if ctx ends meanwhile: a claim
		// cut between its commit and its read would leave a row "sending"
		// that nobody works.
		d, err := p.store.ClaimDelivery(context.WithoutCancel(ctx), p.now(), holder)
		if errors.Is(err, digest.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if sender == nil {
			if sender, err = p.newSender(); err != nil {
				p.release(d.ID, "no smtp sender: "+err.Error())
				return true, fmt.Errorf("open smtp sender: %w", err)
			}
		}
		item, unreachable := p.deliver(ctx, sendCtx, sender, lim, cache, d)
		t.add(item)
		if unreachable {
			return true, nil
		}
		if item.Outcome == OutcomeInterrupted && ctx.Err() == nil {
			// The database could not give what the delivery needs. It was
			// released, and claiming on would take it straight back in a
			// tight loop: stop, and let the pass report the error.
			return false, item.Err
		}
	}
	return false, nil
}

// deliver renders and sends one claimed delivery and records the outcome.
// unreachable reports that the SMTP server could not be reached at all.
func (p *Pass) deliver(ctx, sendCtx context.Context, sender Sender, lim *rate.Limiter, cache *briefCache, d digest.Delivery) (item Item, unreachable bool) {
	rec := context.WithoutCancel(ctx) // outcomes are recorded even while stopping
	item = Item{Date: d.DigestDate, DeliveryID: d.ID, MessageID: d.MessageID, BriefIDs: d.BriefIDs, Attempts: d.Attempts}
	sub, err := p.store.Subscriber(rec, d.SubscriberID)
	if err != nil {
		if errors.Is(err, digest.ErrNotFound) {
			return p.suppress(item, "subscriber no longer exists"), false
		}
		p.release(d.ID, err.Error())
		return p.interrupted(item, err), false
	}
	item.Subscriber = sub
	if sub.Status != digest.StatusActive {
		return p.suppress(item, "subscriber is "+string(sub.Status)), false
	}
	briefs, err := cache.get(rec, d.BriefIDs)
	if err != nil {
		p.release(d.ID, err.Error())
		return p.interrupted(item, err), false
	}
	out, err := p.render(sub, d, briefs)
	if err != nil {
		return p.failed(item, err, false), false
	}
	item.Subject, item.HTMLBytes, item.TextBytes = out.Subject, len(out.HTML), len(out.Text)
	if lim != nil {
		if err := lim.Wait(ctx); err != nil {
			p.release(d.ID, "pass stopped before sending")
			return p.interrupted(item, err), false
		}
	}
	msg := p.message(sub, out, d.MessageID, p.now())
	if p.opts.EnvelopeFrom != nil {
		msg.EnvelopeFrom = p.opts.EnvelopeFrom(d.ID)
	}
	err = sender.Send(sendCtx, msg)
	return p.recordSend(item, d, err, sendCtx.Err() != nil)
}

// recordSend turns the SMTP outcome into the delivery's next state.
func (p *Pass) recordSend(item Item, d digest.Delivery, err error, cutShort bool) (Item, bool) {
	ctx := context.Background()
	if err == nil {
		p.observer.SMTPReply("2xx")
		if merr := p.store.MarkDeliverySent(ctx, d.ID, p.now(), "250 accepted"); merr != nil {
			// The server has the message; failing to record it means a
			// re-send with the same Message-ID after recovery.
			item.Outcome, item.Err = OutcomeFailed, fmt.Errorf("record sent delivery %d: %w", d.ID, merr)
			p.logger.Error("message accepted but not recorded; it will be sent again with the same Message-ID", "delivery", d.ID, "err", merr)
			return item, false
		}
		p.observer.DeliveryDone(digest.DeliverySent)
		item.Outcome = OutcomeSent
		return item, false
	}
	var se *mailer.SendError
	if !errors.As(err, &se) {
		se = &mailer.SendError{MessageID: d.MessageID, Err: err}
	}
	p.observer.SMTPReply(replyClass(se))
	switch {
	case cutShort:
		// The grace period ran out mid-send. The server may or may not
		// have the message; the same Message-ID lets a receiver fold a
		// second copy.
		p.release(d.ID, "pass stopped mid-send: "+err.Error())
		return p.interrupted(item, err), false
	case se.Connecting:
		p.release(d.ID, "smtp server unreachable: "+err.Error())
		item.Outcome, item.Err = OutcomeDeferred, err
		p.logger.Error("cannot reach the smtp server", "delivery", d.ID, "err", err)
		return item, true
	case se.Temporary():
		return p.deferOrGiveUp(item, d, err), false
	}
	// A permanent refusal. Only a verdict on the recipient's address
	// (5.1.x, 5.2.x) counts against the reader; a policy or sender-side
	// refusal (5.7.x) is ours to fix.
	bounce := recipientFault(se)
	item = p.failed(item, err, bounce)
	if strings.HasPrefix(se.EnhancedCode, "5.7.") {
		p.logger.Error("operator alert: the smtp server refused a digest for a reason on the sending side; the reader is not blamed",
			"alert", true, "delivery", d.ID, "code", se.Code, "enhanced", se.EnhancedCode, "err", err)
	}
	return item, false
}

// deferOrGiveUp defers a delivery refused for now, with backoff, unless it
// has used up its attempts or its retry window.
func (p *Pass) deferOrGiveUp(item Item, d digest.Delivery, err error) Item {
	now := p.now()
	outOfWindow := !d.DueAt.IsZero() && now.After(d.DueAt.Add(p.opts.RetryWindow))
	if d.Attempts >= p.opts.MaxAttempts || outOfWindow {
		return p.failed(item, fmt.Errorf("gave up after %d attempts: %w", d.Attempts, err), false)
	}
	next := now.Add(p.backoff(d.Attempts))
	if merr := p.store.MarkDeliveryDeferred(context.Background(), d.ID, next, err.Error()); merr != nil {
		p.logger.Error("could not record deferred delivery", "delivery", d.ID, "err", merr)
	}
	p.observer.Retry()
	p.observer.DeliveryDone(digest.DeliveryDeferred)
	p.logger.Warn("digest deferred", "delivery", d.ID, "subscriber", d.SubscriberID, "attempt", d.Attempts,
		"next_attempt", next.UTC().Format(time.RFC3339), "err", err)
	item.Outcome, item.Err = OutcomeDeferred, err
	return item
}

// backoff is the wait after the given attempt: RetryBase doubling per
// attempt up to RetryMax, spread by ±20% so that deferred messages do not
// come back all at once.
func (p *Pass) backoff(attempt int) time.Duration {
	d := p.opts.RetryBase
	for i := 1; i < attempt && d < p.opts.RetryMax; i++ {
		d *= 2
	}
	d = min(d, p.opts.RetryMax)
	return time.Duration(float64(d) * (0.8 + 0.4*p.jitter()))
}

func (p *Pass) failed(item Item, err error, bounce bool) Item {
	if merr := p.store.MarkDeliveryFailed(context.Background(), item.DeliveryID, err.Error(), bounce); merr != nil {
		p.logger.Error("could not record failed delivery", "delivery", item.DeliveryID, "err", merr)
	}
	p.observer.DeliveryDone(digest.DeliveryFailed)
	p.logger.Error("digest failed", "delivery", item.DeliveryID, "subscriber", item.Subscriber.ID, "bounced", bounce, "err", err)
	item.Outcome, item.Err = OutcomeFailed, err
	return item
}

func (p *Pass) suppress(item Item, reason string) Item {
	if err := p.store.MarkDeliverySuppressed(context.Background(), item.DeliveryID, reason); err != nil {
		p.logger.Error("could not record suppressed delivery", "delivery", item.DeliveryID, "err", err)
	}
	p.observer.DeliveryDone(digest.DeliverySuppressed)
	item.Outcome, item.Err = OutcomeSuppressed, errors.New(reason)
	return item
}

func (p *Pass) interrupted(item Item, err error) Item {
	item.Outcome, item.Err = OutcomeInterrupted, err
	return item
}

// release hands a claimed delivery back to the queue without charging an
// attempt.
func (p *Pass) release(id int64, reason string) {
	if err := p.store.ReleaseDelivery(context.Background(), id, reason); err != nil {
		p.logger.Error("could not re-queue delivery; the next start recovers it", "delivery", id, "err", err)
	}
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
