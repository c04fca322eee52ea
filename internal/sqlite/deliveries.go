package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	digest "github.com/newsroom/digest"
)

// DeliveryFilter narrows ListDeliveries. The zero value lists every delivery.
type DeliveryFilter struct {
	Status       digest.DeliveryStatus // only this status; "" for all
	Date         digest.Date           // only this digest date; "" for all
	SubscriberID int64                 // only this subscriber's; 0 for all
}

// CreateDelivery stores a new, queued delivery with its planned briefs and
// sets d.ID, d.Status (queued when empty), d.CreatedAt and d.UpdatedAt. It
// fails with digest.ErrConflict when the subscriber already has a delivery
// for that date (or the Message-ID is taken), and with digest.ErrNotFound
// when the subscriber or one of the briefs does not exist.
//
// Only a queued delivery can be created: the other states, and the watermark
// that goes with "sent", are reached through MarkDeliverySent and
// MarkDeliveryFailed. d.SentAt is not stored.
func (db *DB) CreateDelivery(ctx context.Context, d *digest.Delivery) error {
	record := fmt.Sprintf("delivery for subscriber %d on %s", d.SubscriberID, d.DigestDate)
	status := d.Status
	if status == "" {
		status = digest.DeliveryQueued
	}
	if err := validateDelivery(record, d, status); err != nil {
		return err
	}
	now := db.now()
	var id int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM subscribers WHERE id = ?`, d.SubscriberID).Scan(&one)
		if err != nil {
			return fmt.Errorf("subscriber %d: %w", d.SubscriberID, notFound(err))
		}
		if err := checkBriefsExist(ctx, tx, d.BriefIDs); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `
			INSERT INTO deliveries (subscriber_id, digest_date, message_id, status, attempts, error,
				cutoff, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			d.SubscriberID, string(d.DigestDate), d.MessageID, string(status), d.Attempts, d.Error,
			formatTime(d.Cutoff), formatTime(now), formatTime(now))
		if err != nil {
			return err
		}
		if id, err = res.LastInsertId(); err != nil {
			return err
		}
		return insertDeliveryBriefs(ctx, tx, id, d.BriefIDs)
	})
	if err != nil {
		return fmt.Errorf("create %s: %w", record, mapError(err))
	}
	d.ID, d.Status, d.CreatedAt, d.UpdatedAt = id, status, now, now
	return nil
}

// validateDelivery refuses what the schema could not store faithfully.
func validateDelivery(record string, d *digest.Delivery, status digest.DeliveryStatus) error {
	switch {
	case d.SubscriberID <= 0:
		return digest.Invalid(record, "subscriber_id", "missing")
	case !validDate(d.DigestDate):
		return digest.Invalid(record, "digest_date", "%q is not a date in YYYY-MM-DD form", d.DigestDate)
	case d.MessageID == "":
		return digest.Invalid(record, "message_id", "missing")
	case status != digest.DeliveryQueued:
		return digest.Invalid(record, "status", "a new delivery is %s, not %q", digest.DeliveryQueued, status)
	case d.Attempts < 0:
		return digest.Invalid(record, "attempts", "negative")
	}
	return validatePlan(record, d.BriefIDs, d.Cutoff)
}

// validatePlan checks the briefs and cut-off of a delivery.
func validatePlan(record string, briefIDs []int64, cutoff time.Time) error {
	if cutoff.IsZero() {
		return digest.Invalid(record, "cutoff", "missing")
	}
	if err := checkTime(cutoff); err != nil {
		return digest.Invalid(record, "cutoff", "%v", err)
	}
	seen := make(map[int64]bool, len(briefIDs))
	for _, id := range briefIDs {
		if seen[id] {
			return digest.Invalid(record, "brief_ids", "brief %d listed twice", id)
		}
		seen[id] = true
	}
	return nil
}

func validDate(d digest.Date) bool {
	t, err := time.Parse(time.DateOnly, string(d))
	return err == nil && digest.DateOf(t) == d
}

// checkBriefsExist fails with digest.ErrNotFound, naming the first missing
// brief, so a bad plan is reported as such rather than as a foreign key
// violation.
func checkBriefsExist(ctx context.Context, tx *sql.Tx, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	var missing int64
	err := tx.QueryRowContext(ctx, `
		SELECT j.value FROM json_each(?) j
		WHERE NOT EXISTS (SELECT 1 FROM briefs b WHERE b.id = j.value)
		ORDER BY j.key LIMIT 1`, int64sJSON(ids)).Scan(&missing)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("check briefs: %w", err)
	}
	return fmt.Errorf("brief %d: %w", missing, digest.ErrNotFound)
}

func insertDeliveryBriefs(ctx context.Context, tx *sql.Tx, deliveryID int64, briefIDs []int64) error {
	if len(briefIDs) == 0 {
		return nil
	}
	// One statement for the whole list: json_each yields the ids with their
	// positions (key) in order.
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO delivery_briefs (delivery_id, position, brief_id)
		SELECT ?, j.key, j.value FROM json_each(?) j`, deliveryID, int64sJSON(briefIDs)); err != nil {
		return fmt.Errorf("insert brief ids: %w", err)
	}
	return nil
}

// Delivery returns the delivery with the given id, or digest.ErrNotFound.
func (db *DB) Delivery(ctx context.Context, id int64) (digest.Delivery, error) {
	ds, err := db.queryDeliveries(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE id = ?`, id)
	if err == nil && len(ds) == 0 {
		err = digest.ErrNotFound
	}
	if err != nil {
		return digest.Delivery{}, fmt.Errorf("delivery %d: %w", id, err)
	}
	return ds[0], nil
}

// DeliveryFor returns the subscriber's delivery for the given date, or
// digest.ErrNotFound.
func (db *DB) DeliveryFor(ctx context.Context, subscriberID int64, date digest.Date) (digest.Delivery, error) {
	ds, err := db.queryDeliveries(ctx,
		`SELECT `+deliveryColumns+` FROM deliveries WHERE subscriber_id = ? AND digest_date = ?`,
		subscriberID, string(date))
	if err == nil && len(ds) == 0 {
		err = digest.ErrNotFound
	}
	if err != nil {
		return digest.Delivery{}, fmt.Errorf("delivery for subscriber %d on %s: %w", subscriberID, date, err)
	}
	return ds[0], nil
}

// ListDeliveries returns the deliveries that match f, ordered by id.
func (db *DB) ListDeliveries(ctx context.Context, f DeliveryFilter) ([]digest.Delivery, error) {
	var c conditions
	if f.Status != "" {
		c.add("status = ?", string(f.Status))
	}
	if f.Date != "" {
		c.add("digest_date = ?", string(f.Date))
	}
	if f.SubscriberID != 0 {
		c.add("subscriber_id = ?", f.SubscriberID)
	}
	ds, err := db.queryDeliveries(ctx,
		`SELECT `+deliveryColumns+` FROM deliveries `+c.where()+` ORDER BY id`, c.args...)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return ds, nil
}

// MarkDeliverySent records that the SMTP server accepted the delivery's
// message at sentAt: status sent, sent_at, error cleared, one more attempt.
// In the same transaction the subscriber's watermark moves to the
// delivery's cut-off, unless it is already later: this is the only place the
// watermark moves, and it never moves back. It fails with ErrAlreadySent
// for a delivery already sent.
func (db *DB) MarkDeliverySent(ctx context.Context, id int64, sentAt time.Time) error {
	if err := checkSentAt(id, sentAt); err != nil {
		return err
	}
	now := db.now()
	err := db.write(ctx, func(tx *sql.Tx) error {
		st, err := deliveryState(ctx, tx, id)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `
			UPDATE deliveries SET status = ?, sent_at = ?, error = '', attempts = attempts + 1, updated_at = ?
			WHERE id = ?`,
			string(digest.DeliverySent), formatTime(sentAt), formatTime(now), id); err != nil {
			return err
		}
		// Text comparison is time comparison: see timeLayout.
		if _, err := tx.ExecContext(ctx, `
			UPDATE subscribers SET watermark = ?1, updated_at = ?2
			WHERE id = ?3 AND (watermark IS NULL OR watermark < ?1)`,
			st.cutoff, formatTime(now), st.subscriberID); err != nil {
			return fmt.Errorf("move watermark of subscriber %d: %w", st.subscriberID, err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark delivery %d sent: %w", id, err)
	}
	return nil
}

func checkSentAt(id int64, sentAt time.Time) error {
	record := fmt.Sprintf("delivery %d", id)
	if sentAt.IsZero() {
		return digest.Invalid(record, "sent_at", "missing")
	}
	if err := checkTime(sentAt); err != nil {
		return digest.Invalid(record, "sent_at", "%v", err)
	}
	return nil
}

// MarkDeliveryFailed records an attempt the server refused for good (5xx):
// status failed, one more attempt, the reason. Passes do not retry a failed
// delivery. The watermark does not move. It fails with ErrAlreadySent for a
// delivery already sent.
func (db *DB) MarkDeliveryFailed(ctx context.Context, id int64, reason string) error {
	if err := db.recordFailedAttempt(ctx, id, reason, digest.DeliveryFailed); err != nil {
		return fmt.Errorf("mark delivery %d failed: %w", id, err)
	}
	return nil
}

// MarkDeliveryDeferred records an attempt that failed for now (4xx, network
// trouble): the delivery stays queued, with one more attempt and the reason,
// and the next pass sends it again. The watermark does not move. It fails
// with ErrAlreadySent for a delivery already sent.
func (db *DB) MarkDeliveryDeferred(ctx context.Context, id int64, reason string) error {
	if err := db.recordFailedAttempt(ctx, id, reason, digest.DeliveryQueued); err != nil {
		return fmt.Errorf("mark delivery %d deferred: %w", id, err)
	}
	return nil
}

func (db *DB) recordFailedAttempt(ctx context.Context, id int64, reason string, status digest.DeliveryStatus) error {
	now := db.now()
	return db.write(ctx, func(tx *sql.Tx) error {
		if _, err := deliveryState(ctx, tx, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `
			UPDATE deliveries SET status = ?, error = ?, attempts = attempts + 1, updated_at = ?
			WHERE id = ?`,
			string(status), reason, formatTime(now), id)
		return err
	})
}

// UpdateDeliveryPlan replaces the briefs and cut-off of a delivery not yet
// sent, so a retry later in the day carries what is new by then. It fails
// with ErrAlreadySent for a delivery already sent.
func (db *DB) UpdateDeliveryPlan(ctx context.Context, id int64, briefIDs []int64, cutoff time.Time) error {
	if err := validatePlan(fmt.Sprintf("delivery %d", id), briefIDs, cutoff); err != nil {
		return err
	}
	now := db.now()
	err := db.write(ctx, func(tx *sql.Tx) error {
		if _, err := deliveryState(ctx, tx, id); err != nil {
			return err
		}
		if err := checkBriefsExist(ctx, tx, briefIDs); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET cutoff = ?, updated_at = ? WHERE id = ?`,
			formatTime(cutoff), formatTime(now), id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM delivery_briefs WHERE delivery_id = ?`, id); err != nil {
			return fmt.Errorf("replace brief ids: %w", err)
		}
		return insertDeliveryBriefs(ctx, tx, id, briefIDs)
	})
	if err != nil {
		return fmt.Errorf("update plan of delivery %d: %w", id, err)
	}
	return nil
}

// unsent is what the mark and plan methods need to know about a delivery
// before changing it.
type unsent struct {
	subscriberID int64
	cutoff       string // as stored
}

// deliveryState reads a delivery inside a write transaction and refuses one
// that is missing (digest.ErrNotFound) or already sent (ErrAlreadySent).
func deliveryState(ctx context.Context, tx *sql.Tx, id int64) (unsent, error) {
	var (
		st     unsent
		status string
	)
	err := tx.QueryRowContext(ctx, `SELECT subscriber_id, status, cutoff FROM deliveries WHERE id = ?`, id).
		Scan(&st.subscriberID, &status, &st.cutoff)
	if err != nil {
		return unsent{}, notFound(err)
	}
	if digest.DeliveryStatus(status) == digest.DeliverySent {
		return unsent{}, ErrAlreadySent
	}
	return st, nil
}

const deliveryColumns = `id, subscriber_id, digest_date, message_id, status, attempts, error,
	cutoff, created_at, updated_at, sent_at`

// queryDeliveries runs a query selecting deliveryColumns and loads each
// delivery's brief ids, in one read transaction.
func (db *DB) queryDeliveries(ctx context.Context, query string, args ...any) ([]digest.Delivery, error) {
	var ds []digest.Delivery
	err := db.read(ctx, func(tx *sql.Tx) error {
		var err error
		if ds, err = queryRows(ctx, tx, scanDelivery, query, args...); err != nil {
			return err
		}
		return loadDeliveryBriefs(ctx, tx, ds)
	})
	return ds, err
}

func scanDelivery(s scanner) (digest.Delivery, error) {
	var (
		d            digest.Delivery
		date, status string
	)
	err := s.Scan(&d.ID, &d.SubscriberID, &date, &d.MessageID, &status, &d.Attempts, &d.Error,
		timeCol{&d.Cutoff}, timeCol{&d.CreatedAt}, timeCol{&d.UpdatedAt}, timeCol{&d.SentAt})
	if err != nil {
		return digest.Delivery{}, fmt.Errorf("scan delivery: %w", err)
	}
	d.DigestDate, d.Status = digest.Date(date), digest.DeliveryStatus(status)
	return d, nil
}

// loadDeliveryBriefs fills in the brief ids of ds, in planned order.
func loadDeliveryBriefs(ctx context.Context, tx *sql.Tx, ds []digest.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	ids := make([]int64, len(ds))
	index := make(map[int64]int, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
		index[d.ID] = i
	}
	rows, err := tx.QueryContext(ctx, `
		SELECT delivery_id, brief_id FROM delivery_briefs
		WHERE delivery_id IN (SELECT value FROM json_each(?))
		ORDER BY delivery_id, position`, int64sJSON(ids))
	if err != nil {
		return fmt.Errorf("load brief ids: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var deliveryID, briefID int64
		if err := rows.Scan(&deliveryID, &briefID); err != nil {
			return fmt.Errorf("scan brief id: %w", err)
		}
		d := &ds[index[deliveryID]]
		d.BriefIDs = append(d.BriefIDs, briefID)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load brief ids: %w", err)
	}
	return nil
}
