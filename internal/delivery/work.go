package delivery

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/delivery/outbox"
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
