package delivery

import (
	"errors"
	"fmt"
	"strings"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/delivery/outbox"
	"github.com/newsroom/digest/internal/mailer"
)

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
