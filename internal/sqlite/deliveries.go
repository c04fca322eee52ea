package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
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
// when the subscriber or one of the briefs does not exist. A pass plans
// many at once with PlanDeliveries.
func (db *DB) CreateDelivery(ctx context.Context, d *digest.Delivery) error {
	record := fmt.Sprintf("delivery for subscriber %d on %s", d.SubscriberID, d.DigestDate)
	if d.Status == "" {
		d.Status = digest.DeliveryQueued
	}
	if err := validateDelivery(record, d); err != nil {
		return err
	}
	now := db.now()
	err := db.write(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM subscribers WHERE id = ?`, d.SubscriberID).Scan(&one)
		if err != nil {
			return fmt.Errorf("subscriber %d: %w", d.SubscriberID, notFound(err))
		}
		if err := checkBriefsExist(ctx, tx, d.BriefIDs); err != nil {
			return err
		}
		w, err := newDeliveryWriter(ctx, tx, now, false)
		if err != nil {
			return err
		}
		defer w.close()
		if _, err := w.insert(ctx, d); err != nil {
			return err
		}
		return w.flush(ctx, tx)
	})
	if err != nil {
		d.ID = 0
		return fmt.Errorf("create %s: %w", record, mapError(err))
	}
	return nil
}

// PlanDeliveries stores new queued deliveries in one transaction, skipping
// any whose subscriber already has a delivery for that date (a pass that
// raced another, or a day already planned). It sets ID, CreatedAt and
// UpdatedAt of each one it created and leaves ID zero on the skipped ones.
// Every delivery is validated before anything is written: one that could
// not be stored faithfully fails the call, naming it, and nothing is
// stored. A pass calls it once per page of a few thousand readers, so the
// statements are prepared once per call and reused for every row.
func (db *DB) PlanDeliveries(ctx context.Context, ds []*digest.Delivery) (created int, err error) {
	for _, d := range ds {
		if d.Status == "" {
			d.Status = digest.DeliveryQueued
		}
		if err := validateDelivery(fmt.Sprintf("delivery for subscriber %d on %s", d.SubscriberID, d.DigestDate), d); err != nil {
			return 0, err
		}
	}
	if len(ds) == 0 {
		return 0, nil
	}
	now := db.now()
	err = db.write(ctx, func(tx *sql.Tx) error {
		created = 0
		w, err := newDeliveryWriter(ctx, tx, now, true)
		if err != nil {
			return err
		}
		defer w.close()
		for _, d := range ds {
			ok, err := w.insert(ctx, d)
			if err != nil {
				return fmt.Errorf("plan delivery for subscriber %d on %s: %w", d.SubscriberID, d.DigestDate, err)
			}
			if ok {
				created++
			}
		}
		return w.flush(ctx, tx)
	})
	if err != nil {
		for _, d := range ds {
			d.ID = 0
		}
		return 0, fmt.Errorf("plan deliveries: %w", mapError(err))
	}
	return created, nil
}

// deliveryWriter inserts new deliveries with their brief ids and first
// events in one transaction. The delivery rows go in one by one through a
// statement prepared once (compiling it per row cost more than running
// it); their brief ids and events are collected and written by flush in
// one statement each, which SQLite feeds from a JSON array.
type deliveryWriter struct {
	now      time.Time
	stamp    string // now, as stored
	delivery *sql.Stmt
	briefs   []byte // JSON array of [delivery_id, position, brief_id]
	events   []byte // JSON array of delivery ids
}

// newDeliveryWriter prepares the delivery insert of a transaction. With
// skipExisting, a delivery for a subscriber and date that already has one
// is left out and insert reports false. Only that conflict is skipped: a
// Message-ID already in use, or any other constraint, is an error (INSERT
// OR IGNORE would have dropped the reader's digest without a word).
func newDeliveryWriter(ctx context.Context, tx *sql.Tx, now time.Time, skipExisting bool) (*deliveryWriter, error) {
	onConflict := ""
	if skipExisting {
		onConflict = " ON CONFLICT (subscriber_id, digest_date) DO NOTHING"
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO deliveries (subscriber_id, digest_date, message_id, status, attempts, error,
			cutoff, due_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`+onConflict)
	if err != nil {
		return nil, fmt.Errorf("prepare delivery insert: %w", err)
	}
	return &deliveryWriter{now: now, stamp: formatTime(now), delivery: st,
		briefs: []byte{'['}, events: []byte{'['}}, nil
}

func (w *deliveryWriter) close() { w.delivery.Close() }

// insert inserts d, which must be queued, and sets its ID and times; its
// brief ids and event wait for flush, which must run before the commit.
func (w *deliveryWriter) insert(ctx context.Context, d *digest.Delivery) (inserted bool, err error) {
	res, err := w.delivery.ExecContext(ctx,
		d.SubscriberID, string(d.DigestDate), d.MessageID, string(d.Status), d.Attempts, d.Error,
		formatTime(d.Cutoff), nullTime(d.DueAt), w.stamp, w.stamp)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return false, err
	}
	for pos, b := range d.BriefIDs {
		if len(w.briefs) > 1 {
			w.briefs = append(w.briefs, ',')
		}
		w.briefs = append(w.briefs, '[')
		w.briefs = strconv.AppendInt(w.briefs, id, 10)
		w.briefs = append(w.briefs, ',')
		w.briefs = strconv.AppendInt(w.briefs, int64(pos), 10)
		w.briefs = append(w.briefs, ',')
		w.briefs = strconv.AppendInt(w.briefs, b, 10)
		w.briefs = append(w.briefs, ']')
	}
	if len(w.events) > 1 {
		w.events = append(w.events, ',')
	}
	w.events = strconv.AppendInt(w.events, id, 10)
	d.ID, d.CreatedAt, d.UpdatedAt = id, w.now, w.now
	return true, nil
}

// flush writes the brief ids and the "planned" events of every delivery
// inserted so far.
func (w *deliveryWriter) flush(ctx context.Context, tx *sql.Tx) error {
	if len(w.briefs) > 1 {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO delivery_briefs (delivery_id, position, brief_id)
			SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2 FROM json_each(?) j`,
			string(append(w.briefs, ']'))); err != nil {
			return fmt.Errorf("insert brief ids: %w", err)
		}
	}
	if len(w.events) > 1 {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO delivery_events (delivery_id, at, from_status, to_status, reason)
			SELECT j.value, ?, '', ?, 'planned' FROM json_each(?) j`,
			w.stamp, string(digest.DeliveryQueued), string(append(w.events, ']'))); err != nil {
			return fmt.Errorf("record events: %w", err)
		}
	}
	w.briefs, w.events = w.briefs[:1], w.events[:1]
	return nil
}

// validateDelivery refuses what the schema could not store faithfully.
func validateDelivery(record string, d *digest.Delivery) error {
	switch {
	case d.SubscriberID <= 0:
		return digest.Invalid(record, "subscriber_id", "missing")
	case !validDate(d.DigestDate):
		return digest.Invalid(record, "digest_date", "%q is not a date in YYYY-MM-DD form", d.DigestDate)
	case d.MessageID == "":
		return digest.Invalid(record, "message_id", "missing")
	case d.Status != digest.DeliveryQueued:
		return digest.Invalid(record, "status", "a new delivery is %s, not %q", digest.DeliveryQueued, d.Status)
	case d.Attempts < 0:
		return digest.Invalid(record, "attempts", "negative")
	}
	if !d.DueAt.IsZero() {
		if err := checkTime(d.DueAt); err != nil {
			return digest.Invalid(record, "due_at", "%v", err)
		}
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

// ListDeliveries returns the deliveries that match f, ordered by id. A
// status that is not a delivery status is refused, naming the field.
func (db *DB) ListDeliveries(ctx context.Context, f DeliveryFilter) ([]digest.Delivery, error) {
	q, args, err := listDeliveriesQuery(f)
	if err != nil {
		return nil, err
	}
	ds, err := db.queryDeliveries(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return ds, nil
}

// listDeliveriesQuery returns ListDeliveries' query for f, with its
// arguments. A status other than sent is read through its partial index,
// named: with ORDER BY id the planner would rather scan the whole table in
// id order than sort the few rows the index holds. A reader's deliveries
// are found by the (subscriber_id, digest_date) index instead, fewer
// still; sent ones, most of the table, by date or by a scan.
func listDeliveriesQuery(f DeliveryFilter) (string, []any, error) {
	from := "deliveries"
	var c conditions
	if f.Status != "" {
		cond, err := statusIs("deliveries filter", f.Status)
		if err != nil {
			return "", nil, err
		}
		c.add(cond)
		if idx := stateIndex(f.Status); idx != "" && f.SubscriberID == 0 {
			from += " INDEXED BY " + idx
		}
	}
	if f.Date != "" {
		c.add("digest_date = ?", string(f.Date))
	}
	if f.SubscriberID != 0 {
		c.add("subscriber_id = ?", f.SubscriberID)
	}
	return `SELECT ` + deliveryColumns + ` FROM ` + from + ` ` + c.where() + ` ORDER BY id`, c.args, nil
}

const deliveryColumns = `id, subscriber_id, digest_date, message_id, status, attempts, error,
	cutoff, due_at, next_attempt_at, created_at, updated_at, sent_at`

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
		timeCol{&d.Cutoff}, timeCol{&d.DueAt}, timeCol{&d.NextAttemptAt}, timeCol{&d.CreatedAt}, timeCol{&d.UpdatedAt}, timeCol{&d.SentAt})
	if err != nil {
		return digest.Delivery{}, fmt.Errorf("scan delivery: %w", err)
	}
	d.DigestDate, d.Status = digest.Date(date), digest.DeliveryStatus(status)
	return d, nil
}

// loadDeliveryBriefs fills in the brief ids of ds, in planned order.
func loadDeliveryBriefs(ctx context.Context, tx *sql.Tx, ds []digest.Delivery) error {
	ids := make([]int64, len(ds))
	index := make(map[int64]int, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
		index[d.ID] = i
	}
	return loadBriefIDs(ctx, tx, ids, func(deliveryID, briefID int64) {
		d := &ds[index[deliveryID]]
		d.BriefIDs = append(d.BriefIDs, briefID)
	})
}

// loadBriefIDs reads the brief ids of the given deliveries and hands each
// to add, in delivery order and, within one, in planned order.
func loadBriefIDs(ctx context.Context, tx *sql.Tx, deliveryIDs []int64, add func(deliveryID, briefID int64)) error {
	if len(deliveryIDs) == 0 {
		return nil
	}
	rows, err := tx.QueryContext(ctx, `
		SELECT delivery_id, brief_id FROM delivery_briefs
		WHERE delivery_id IN (SELECT value FROM json_each(?))
		ORDER BY delivery_id, position`, int64sJSON(deliveryIDs))
	if err != nil {
		return fmt.Errorf("load brief ids: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var deliveryID, briefID int64
		if err := rows.Scan(&deliveryID, &briefID); err != nil {
			return fmt.Errorf("scan brief id: %w", err)
		}
		add(deliveryID, briefID)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("load brief ids: %w", err)
	}
	return nil
}
