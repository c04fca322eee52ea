package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/delivery/outbox"
)

// One-at-a-time forms of the ledger's transitions, for tests that set up
// deliveries in a given state. The delivery pass records and claims
// through Settle only.

// ClaimDelivery hands the next delivery to a worker: the queued one due
// first, or a deferred one whose next attempt has come by now. It becomes
// sending, claimed by holder, with one more attempt. digest.ErrNotFound
// means there is nothing to do now. (The delivery pass claims through
// Settle, a few at a time; this is the one-at-a-time form.)
func (db *DB) ClaimDelivery(ctx context.Context, now time.Time, holder string) (digest.Delivery, error) {
	var claimed []outbox.Claim
	err := db.write(ctx, func(tx *sql.Tx) error {
		var err error
		claimed, err = claim(ctx, tx, now, db.now(), holder, 1)
		return err
	})
	if err != nil {
		return digest.Delivery{}, fmt.Errorf("claim delivery: %w", err)
	}
	if len(claimed) == 0 {
		return digest.Delivery{}, digest.ErrNotFound
	}
	return claimed[0].Delivery, nil
}

// MarkDeliverySent records that the SMTP server accepted the delivery's
// message at sentAt, through Settle as a pass's ledger does: the reader's
// watermark moves at the next CatchUpWatermarks. An outcome Settle refuses
// is the error.
func (db *DB) MarkDeliverySent(ctx context.Context, id int64, sentAt time.Time, reply string) error {
	_, refused, err := db.Settle(ctx, sentAt, []outbox.Result{{DeliveryID: id, Status: digest.DeliverySent, SentAt: sentAt, Reason: reply}}, nil)
	if err != nil {
		return err
	}
	return refused[0]
}

// MarkDeliveryDeferred records an attempt refused for now: the delivery is
// deferred until next, with the reason. The watermark does not move.
func (db *DB) MarkDeliveryDeferred(ctx context.Context, id int64, next time.Time, reason string) error {
	if err := checkTime(next); err != nil || next.IsZero() {
		return digest.Invalid(fmt.Sprintf("delivery %d", id), "next_attempt_at", "missing or out of range")
	}
	err := db.write(ctx, func(tx *sql.Tx) error { return markDeferred(ctx, tx, id, db.now(), next, reason) })
	if err != nil {
		return fmt.Errorf("mark delivery %d deferred: %w", id, err)
	}
	return nil
}

// MarkDeliveryFailed records a delivery that will not be sent: refused for
// good, out of attempts, or impossible to build. With bounce, the
// subscriber is marked bounced in the same transaction (the server said the
// address does not work); without, the failure is the sender's and the
// subscriber is left alone.
func (db *DB) MarkDeliveryFailed(ctx context.Context, id int64, reason string, bounce bool) error {
	err := db.write(ctx, func(tx *sql.Tx) error { return markFailed(ctx, tx, id, db.now(), reason, bounce) })
	if err != nil {
		return fmt.Errorf("mark delivery %d failed: %w", id, err)
	}
	return nil
}

// MarkDeliverySuppressed records a delivery not sent because its reader is
// no longer active (or the address is suppressed).
func (db *DB) MarkDeliverySuppressed(ctx context.Context, id int64, reason string) error {
	err := db.write(ctx, func(tx *sql.Tx) error { return markSuppressed(ctx, tx, id, db.now(), reason) })
	if err != nil {
		return fmt.Errorf("mark delivery %d suppressed: %w", id, err)
	}
	return nil
}
