package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	digest "github.com/newsroom/digest"
)

// The delivery ledger's hot path. A pass's workers record what the SMTP
// server said and take their next deliveries through Settle, which does
// both for several workers in one short write transaction: one commit per
// round of workers instead of two per message.

// Settle records outcomes and then claims deliveries, in one transaction.
// An outcome the ledger refuses (the delivery is already sent, or in a
// state that does not allow the change, or gone) is reported in refused at
// its index and changes nothing; the others are recorded. claims[i] gets at
// most requests[i].N deliveries: queued ones due first, then deferred ones
// whose next attempt has come by now, each made sending with one more
// attempt. Any other error rolls back the whole transaction.
func (db *DB) Settle(ctx context.Context, now time.Time, outcomes []digest.DeliveryResult, requests []digest.ClaimRequest) (claims [][]digest.Claim, refused []error, err error) {
	for _, o := range outcomes {
		if o.Status == digest.DeliverySent {
			if err := checkSentAt(o.DeliveryID, o.SentAt); err != nil {
				return nil, nil, err
			}
		}
		if o.Status == digest.DeliveryDeferred && (o.Next.IsZero() || checkTime(o.Next) != nil) {
			return nil, nil, digest.Invalid(fmt.Sprintf("delivery %d", o.DeliveryID), "next_attempt_at", "missing or out of range")
		}
	}
	err = db.write(ctx, func(tx *sql.Tx) error {
		at := db.now()
		refused = make([]error, len(outcomes))
		for i, o := range outcomes {
			err := record(ctx, tx, at, o)
			if errors.Is(err, ErrAlreadySent) || errors.Is(err, ErrWrongState) || errors.Is(err, digest.ErrNotFound) {
				refused[i] = fmt.Errorf("delivery %d: %w", o.DeliveryID, err)
				continue
			}
			if err != nil {
				return fmt.Errorf("record delivery %d %s: %w", o.DeliveryID, o.Status, err)
			}
		}
		claims = make([][]digest.Claim, len(requests))
		for i, r := range requests {
			if r.N <= 0 {
				continue
			}
			if claims[i], err = claim(ctx, tx, now, at, r.Holder, r.N); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("settle deliveries: %w", err)
	}
	return claims, refused, nil
}

// record applies one outcome inside tx.
func record(ctx context.Context, tx *sql.Tx, at time.Time, o digest.DeliveryResult) error {
	switch o.Status {
	case digest.DeliverySent:
		return markSent(ctx, tx, o.DeliveryID, at, o.SentAt, o.Reason)
	case digest.DeliveryDeferred:
		return markDeferred(ctx, tx, o.DeliveryID, at, o.Next, o.Reason)
	case digest.DeliveryFailed:
		return markFailed(ctx, tx, o.DeliveryID, at, o.Reason, o.Bounce)
	case digest.DeliverySuppressed:
		return markSuppressed(ctx, tx, o.DeliveryID, at, o.Reason)
	case digest.DeliveryQueued:
		return release(ctx, tx, o.DeliveryID, at, o.Reason)
	}
	return digest.Invalid(fmt.Sprintf("delivery %d", o.DeliveryID), "status", "%q is not an outcome", o.Status)
}

// claim takes up to n deliveries for holder inside tx: queued ones in
// (due_at, id) order, then deferred ones whose next attempt is due by now.
// The two are read separately so each uses its index (deliveries_queued
// for the queue); an OR would sort the whole queue on every claim.
func claim(ctx context.Context, tx *sql.Tx, now, at time.Time, holder string, n int) ([]digest.Claim, error) {
	type pick struct {
		id  int64
		due sql.NullString // due_at as stored: text in time order, NULL first
	}
	scan := func(s scanner) (pick, error) {
		var p pick
		return p, s.Scan(&p.id, &p.due)
	}
	queued, err := queryRows(ctx, tx, scan, `
		SELECT id, due_at FROM deliveries WHERE status = ? ORDER BY due_at, id LIMIT ?`,
		string(digest.DeliveryQueued), n)
	if err != nil {
		return nil, fmt.Errorf("find queued deliveries: %w", err)
	}
	due, err := queryRows(ctx, tx, scan, `
		SELECT id, due_at FROM deliveries WHERE status = ? AND next_attempt_at <= ?
		ORDER BY due_at, id LIMIT ?`,
		string(digest.DeliveryDeferred), boundTime(now), n)
	if err != nil {
		return nil, fmt.Errorf("find deferred deliveries due: %w", err)
	}
	// Both lists are in (due_at, id) order: take the first n of the two.
	picks := append(queued, due...)
	slices.SortFunc(picks, func(a, b pick) int {
		if c := cmpDue(a.due, b.due); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	picks = picks[:min(n, len(picks))]
	if len(picks) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(picks))
	for i, p := range picks {
		ids[i] = p.id
	}
	idList := int64sJSON(ids)
	reason := "claimed by " + holder
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO delivery_events (delivery_id, at, from_status, to_status, reason)
		SELECT id, ?, status, ?, ? FROM deliveries WHERE id IN (SELECT value FROM json_each(?))`,
		formatTime(at), string(digest.DeliverySending), reason, idList); err != nil {
		return nil, fmt.Errorf("record claims: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `
		UPDATE deliveries SET status = ?, updated_at = ?, attempts = attempts + 1, claimed_by = ?, next_attempt_at = NULL
		WHERE id IN (SELECT value FROM json_each(?))`,
		string(digest.DeliverySending), formatTime(at), holder, idList); err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	// Read them back in the same transaction: a read after the commit
	// could fail and leave rows "sending" with nobody working them.
	ds, err := queryRows(ctx, tx, scanDelivery, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE id IN (SELECT value FROM json_each(?))`, idList)
	if err != nil {
		return nil, fmt.Errorf("read claimed deliveries: %w", err)
	}
	if err := loadDeliveryBriefs(ctx, tx, ds); err != nil {
		return nil, err
	}
	subIDs := make([]int64, len(ds))
	for i, d := range ds {
		subIDs[i] = d.SubscriberID
	}
	subs, err := queryRows(ctx, tx, scanSubscriber, `SELECT `+subscriberColumns+` FROM subscribers s
		WHERE s.id IN (SELECT value FROM json_each(?))`, int64sJSON(subIDs))
	if err != nil {
		return nil, fmt.Errorf("read the claimed deliveries' readers: %w", err)
	}
	if err := loadRegions(ctx, tx, subs); err != nil {
		return nil, err
	}
	byID := make(map[int64]digest.Subscriber, len(subs))
	for _, s := range subs {
		byID[s.ID] = s
	}
	order := make(map[int64]int, len(ids))
	for i, id := range ids {
		order[id] = i
	}
	slices.SortFunc(ds, func(a, b digest.Delivery) int { return order[a.ID] - order[b.ID] })
	out := make([]digest.Claim, len(ds))
	for i, d := range ds {
		out[i] = digest.Claim{Delivery: d, Subscriber: byID[d.SubscriberID]}
	}
	return out, nil
}

// cmpDue orders due_at values as SQLite's ORDER BY does: NULL first, then
// text order (which is time order, see timeLayout).
func cmpDue(a, b sql.NullString) int {
	switch {
	case !a.Valid && !b.Valid:
		return 0
	case !a.Valid:
		return -1
	case !b.Valid:
		return 1
	}
	return cmp.Compare(a.String, b.String)
}
