package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	digest "github.com/newsroom/digest"
)

// The reasons Settle refuses an outcome, beside digest.ErrNotFound.
var (
	// errAlreadySent means a delivery cannot be changed because its
	// digest was already accepted by the SMTP server: re-marking it would
	// misreport what the reader received.
	errAlreadySent = errors.New("delivery already sent")
	// errWrongState means a delivery is not in a state that allows the
	// change asked for (deferring a delivery nobody claimed).
	errWrongState = errors.New("delivery is not in a state that allows this")
)

// insertEvent records one transition of a delivery.
func insertEvent(ctx context.Context, tx *sql.Tx, id int64, at time.Time, from, to digest.DeliveryStatus, reason string) error {
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO delivery_events (delivery_id, at, from_status, to_status, reason) VALUES (?, ?, ?, ?, ?)`,
		id, formatTime(at), string(from), string(to), reason); err != nil {
		return fmt.Errorf("record event of delivery %d: %w", id, err)
	}
	return nil
}

// transition moves one delivery from one of the states in from to to, with
// extra column assignments ("x = ?", args), and records the event. It
// returns the delivery's subscriber and cut-off as stored, for callers that
// go on to touch the subscriber.
func transition(ctx context.Context, tx *sql.Tx, id int64, at time.Time, from []digest.DeliveryStatus, to digest.DeliveryStatus,
	reason, set string, args ...any) (subscriberID int64, cutoff string, err error) {
	var status string
	err = tx.QueryRowContext(ctx, `SELECT subscriber_id, status, cutoff FROM deliveries WHERE id = ?`, id).
		Scan(&subscriberID, &status, &cutoff)
	if err != nil {
		return 0, "", notFound(err)
	}
	cur := digest.DeliveryStatus(status)
	allowed := false
	for _, f := range from {
		allowed = allowed || cur == f
	}
	if !allowed {
		if cur == digest.DeliverySent {
			return 0, "", errAlreadySent
		}
		return 0, "", fmt.Errorf("%w: it is %s, not %s", errWrongState, cur, joinStatuses(from))
	}
	q := `UPDATE deliveries SET status = ?, updated_at = ?`
	if set != "" {
		q += ", " + set
	}
	q += ` WHERE id = ?`
	all := append([]any{string(to), formatTime(at)}, args...)
	if _, err := tx.ExecContext(ctx, q, append(all, id)...); err != nil {
		return 0, "", err
	}
	return subscriberID, cutoff, insertEvent(ctx, tx, id, at, cur, to, reason)
}

func joinStatuses(ss []digest.DeliveryStatus) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, " or ")
}

// markSent marks one delivery sent inside tx, with its event; the
// reader's watermark is left to CatchUpWatermarks. The send pass records
// its sent deliveries a round at a time (recordSent); what reaches
// markSent is an outcome that round could not take, which this refuses
// with the errors Settle reports, or a delivery sent from queued or
// deferred.
func markSent(ctx context.Context, tx *sql.Tx, id int64, now, sentAt time.Time, reply string) error {
	_, _, err := transition(ctx, tx, id, now,
		[]digest.DeliveryStatus{digest.DeliverySending, digest.DeliveryQueued, digest.DeliveryDeferred}, digest.DeliverySent,
		reply, "sent_at = ?, error = '', next_attempt_at = NULL", formatTime(sentAt))
	return err
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

func markDeferred(ctx context.Context, tx *sql.Tx, id int64, now, next time.Time, reason string) error {
	_, _, err := transition(ctx, tx, id, now, []digest.DeliveryStatus{digest.DeliverySending}, digest.DeliveryDeferred,
		reason, "error = ?, next_attempt_at = ?", reason, formatTime(next))
	return err
}

func markFailed(ctx context.Context, tx *sql.Tx, id int64, now time.Time, reason string, bounce bool) error {
	subID, _, err := transition(ctx, tx, id, now,
		[]digest.DeliveryStatus{digest.DeliverySending, digest.DeliveryQueued, digest.DeliveryDeferred}, digest.DeliveryFailed,
		reason, "error = ?, next_attempt_at = NULL", reason)
	if err != nil || !bounce {
		return err
	}
	return setStatus(ctx, tx, subID, digest.StatusBounced, now)
}

func markSuppressed(ctx context.Context, tx *sql.Tx, id int64, now time.Time, reason string) error {
	_, _, err := transition(ctx, tx, id, now,
		[]digest.DeliveryStatus{digest.DeliverySending, digest.DeliveryQueued, digest.DeliveryDeferred}, digest.DeliverySuppressed,
		reason, "error = ?, next_attempt_at = NULL", reason)
	return err
}

// release hands a claimed delivery back to the queue without counting the
// attempt against it: the message never reached the server (the pass was
// stopped, or the server could not be reached at all).
func release(ctx context.Context, tx *sql.Tx, id int64, now time.Time, reason string) error {
	_, _, err := transition(ctx, tx, id, now, []digest.DeliveryStatus{digest.DeliverySending}, digest.DeliveryQueued,
		reason, "attempts = MAX(attempts - 1, 0), error = ?", reason)
	return err
}

// RecoverSending puts back in the queue every delivery left "sending": at
// start-up, with the lease held, those are the messages that were in flight
// when the last sender died. They go out again with the same Message-ID, so
// a receiver that did get the first copy can tell.
func (db *DB) RecoverSending(ctx context.Context) (int, error) {
	return db.bulkTransition(ctx, digest.DeliveryQueued, "recovered: the sender stopped mid-send", "",
		selection{where: recoverSending})
}

// recoverSending selects the deliveries left sending, through
// deliveries_sending (the literal status is what lets SQLite use it).
const recoverSending = `status = 'sending'`

// ExpireLate marks expired the queued and deferred deliveries whose reader's
// send time was more than maxLateness before now: a morning digest is not
// sent at midnight. Deliveries without a due time are left alone.
func (db *DB) ExpireLate(ctx context.Context, now time.Time, maxLateness time.Duration) (int, error) {
	bound := boundTime(now.Add(-maxLateness))
	// One selection per state, so each reads its own partial index: SQLite
	// answers "(queued AND late) OR (deferred AND late)" with a scan of
	// every delivery.
	return db.bulkTransition(ctx, digest.DeliveryExpired,
		fmt.Sprintf("more than %s after the reader's send time", maxLateness), "next_attempt_at = NULL",
		selection{where: expireQueued, args: []any{bound}},
		selection{where: expireDeferred, args: []any{bound}})
}

// The late deliveries ExpireLate selects, queued and deferred. "due_at <"
// leaves out deliveries without a due time (NULL compares false).
const (
	expireQueued   = `status = 'queued' AND due_at < ?`
	expireDeferred = `status = 'deferred' AND due_at < ?`
)

// RetryFilter selects the deliveries an operator re-queues.
type RetryFilter struct {
	IDs    []int64               // these deliveries; or, when empty:
	Status digest.DeliveryStatus // deliveries in this status (failed, deferred, expired or suppressed)
	Date   digest.Date           // optionally only this digest date
}

// RequeueDeliveries puts deliveries back in the queue at an operator's
// request, keeping their Message-IDs. Sent and sending deliveries are never
// touched: a filter by status names one of the four that may be re-queued.
func (db *DB) RequeueDeliveries(ctx context.Context, f RetryFilter) (int, error) {
	sel, err := requeueSelection(f)
	if err != nil {
		return 0, err
	}
	return db.bulkTransition(ctx, digest.DeliveryQueued, "re-queued by an operator", "next_attempt_at = NULL", sel)
}

// requeueSelection returns the deliveries f selects, or an error naming
// the field that says nothing or something impossible.
func requeueSelection(f RetryFilter) (selection, error) {
	var c conditions
	c.add("status IN (?, ?, ?, ?)", string(digest.DeliveryFailed), string(digest.DeliveryDeferred),
		string(digest.DeliveryExpired), string(digest.DeliverySuppressed))
	switch {
	case len(f.IDs) > 0:
		c.add("id IN (SELECT value FROM json_each(?))", int64sJSON(f.IDs))
	case f.Status != "":
		if !requeueable(f.Status) {
			return selection{}, digest.Invalid("retry", "status",
				"%q deliveries are never re-queued; say failed, deferred, expired or suppressed", f.Status)
		}
		// The literal status lets the state's partial index serve the
		// query; the IN above, with parameters, cannot.
		cond, err := statusIs("retry", f.Status)
		if err != nil {
			return selection{}, err
		}
		c.add(cond)
	default:
		return selection{}, digest.Invalid("retry", "status", "say which deliveries: ids or a status")
	}
	if f.Date != "" {
		c.add("digest_date = ?", string(f.Date))
	}
	return selection{where: strings.TrimPrefix(c.where(), "WHERE "), args: c.args}, nil
}

// requeueable reports whether an operator may put deliveries in status s
// back in the queue.
func requeueable(s digest.DeliveryStatus) bool {
	switch s {
	case digest.DeliveryFailed, digest.DeliveryDeferred, digest.DeliveryExpired, digest.DeliverySuppressed:
		return true
	}
	return false
}

// selection is a WHERE clause over deliveries, without the keyword, with
// its arguments.
type selection struct {
	where string
	args  []any
}

// bulkTransition moves every delivery matching one of sels to status to,
// with an event each, in one transaction. The selections must not overlap.
func (db *DB) bulkTransition(ctx context.Context, to digest.DeliveryStatus, reason, set string, sels ...selection) (int, error) {
	now := db.now()
	stamp := formatTime(now)
	var n int
	err := db.write(ctx, func(tx *sql.Tx) error {
		n = 0
		for _, sel := range sels {
			events, update := bulkStatements(sel.where, set)
			if _, err := tx.ExecContext(ctx, events, append([]any{stamp, string(to), reason}, sel.args...)...); err != nil {
				return fmt.Errorf("record events: %w", err)
			}
			res, err := tx.ExecContext(ctx, update, append([]any{string(to), stamp}, sel.args...)...)
			if err != nil {
				return err
			}
			m, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += int(m)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("move deliveries to %s: %w", to, err)
	}
	return n, nil
}

// bulkStatements returns bulkTransition's statements for the deliveries
// matching where: the events insert, whose arguments are (at, to, reason)
// then where's, and the update, whose are (to, updated_at) then where's,
// with the extra assignments in set.
func bulkStatements(where, set string) (events, update string) {
	events = `INSERT INTO delivery_events (delivery_id, at, from_status, to_status, reason)
		SELECT id, ?, status, ?, ? FROM deliveries WHERE ` + where
	update = `UPDATE deliveries SET status = ?, updated_at = ?`
	if set != "" {
		update += ", " + set
	}
	return events, update + ` WHERE ` + where
}

// DeliveryEvents returns the transitions of a delivery, oldest first,
// beginning with its creation: to queued, reason "planned", at its
// created_at. Planning no longer writes that first event (see
// deliveryWriter); deliveries planned before it stopped have it stored,
// and it is read from the table then rather than shown twice.
func (db *DB) DeliveryEvents(ctx context.Context, id int64) ([]digest.DeliveryEvent, error) {
	var evs []digest.DeliveryEvent
	err := db.read(ctx, func(tx *sql.Tx) error {
		var created time.Time
		err := tx.QueryRowContext(ctx, `SELECT created_at FROM deliveries WHERE id = ?`, id).Scan(timeCol{&created})
		switch {
		case errors.Is(err, sql.ErrNoRows):
			// Its events outlive no delivery (ON DELETE CASCADE): none.
			return nil
		case err != nil:
			return err
		}
		evs, err = queryRows(ctx, tx, func(s scanner) (digest.DeliveryEvent, error) {
			var (
				e        digest.DeliveryEvent
				from, to string
			)
			err := s.Scan(&e.DeliveryID, timeCol{&e.At}, &from, &to, &e.Reason)
			e.From, e.To = digest.DeliveryStatus(from), digest.DeliveryStatus(to)
			return e, err
		}, `SELECT delivery_id, at, from_status, to_status, reason FROM delivery_events WHERE delivery_id = ? ORDER BY id`, id)
		if err != nil || (len(evs) > 0 && evs[0].From == "") {
			return err // a stored creation event comes first
		}
		evs = append([]digest.DeliveryEvent{plannedEvent(id, created)}, evs...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("events of delivery %d: %w", id, err)
	}
	return evs, nil
}

// plannedEvent is a delivery's creation as DeliveryEvents shows it, and as
// planning stored it until the delivery row's created_at took its place.
func plannedEvent(id int64, created time.Time) digest.DeliveryEvent {
	return digest.DeliveryEvent{DeliveryID: id, At: created, To: digest.DeliveryQueued, Reason: "planned"}
}

// DeliveryByMessageID returns the delivery that sent the given Message-ID.
func (db *DB) DeliveryByMessageID(ctx context.Context, messageID string) (digest.Delivery, error) {
	ds, err := db.queryDeliveries(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE message_id = ?`, messageID)
	if err == nil && len(ds) == 0 {
		err = digest.ErrNotFound
	}
	if err != nil {
		return digest.Delivery{}, fmt.Errorf("delivery with Message-ID %s: %w", messageID, err)
	}
	return ds[0], nil
}
