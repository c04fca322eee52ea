// Package sqlitetest sets up and reads back a digest database for the
// tests of other packages. It uses only internal/sqlite's own API, so what
// tests need and no command does lives here rather than in sqlite.
package sqlitetest

import (
	"context"
	"fmt"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/delivery/outbox"
	"github.com/newsroom/digest/internal/sqlite"
)

// CreateDelivery stores d as a new queued delivery, as a pass plans one
// (PlanDeliveries), and sets its ID and times. It fails with
// digest.ErrConflict when the reader already has a delivery that day.
func CreateDelivery(ctx context.Context, db *sqlite.DB, d *digest.Delivery) error {
	n, err := db.PlanDeliveries(ctx, []*digest.Delivery{d})
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("delivery for subscriber %d on %s: %w", d.SubscriberID, d.DigestDate, digest.ErrConflict)
	}
	return nil
}

// RecordSent records that the SMTP server accepted the delivery's message
// at sentAt, as a pass's ledger does (Settle); the reader's watermark
// moves at the next CatchUpWatermarks. An outcome the ledger refuses is
// the error.
func RecordSent(ctx context.Context, db *sqlite.DB, id int64, sentAt time.Time, reply string) error {
	_, refused, err := db.Settle(ctx, sentAt,
		[]outbox.Result{{DeliveryID: id, Status: digest.DeliverySent, SentAt: sentAt, Reason: reply}}, nil)
	if err != nil {
		return err
	}
	return refused[0]
}

// DeliveryFor returns the subscriber's delivery for date, or
// digest.ErrNotFound.
func DeliveryFor(ctx context.Context, db *sqlite.DB, subscriberID int64, date digest.Date) (digest.Delivery, error) {
	ds, err := db.ListDeliveries(ctx, sqlite.DeliveryFilter{SubscriberID: subscriberID, Date: date})
	switch {
	case err != nil:
		return digest.Delivery{}, err
	case len(ds) == 0:
		return digest.Delivery{}, fmt.Errorf("delivery for subscriber %d on %s: %w", subscriberID, date, digest.ErrNotFound)
	}
	return ds[0], nil
}

// CountDeliveries counts the deliveries of date ("" for every date) by
// status.
func CountDeliveries(ctx context.Context, db *sqlite.DB, date digest.Date) (map[digest.DeliveryStatus]int, error) {
	ds, err := db.ListDeliveries(ctx, sqlite.DeliveryFilter{Date: date})
	if err != nil {
		return nil, err
	}
	counts := map[digest.DeliveryStatus]int{}
	for _, d := range ds {
		counts[d.Status]++
	}
	return counts, nil
}
