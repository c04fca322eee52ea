package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/delivery/outbox"
)

// The delivery ledger's hot path. A pass's workers record what the SMTP
// server said and take their next deliveries through Settle, which does
// both for several workers in one short write transaction: one commit per
// round of workers instead of two per message.

// Settle records outcomes and then claims deliveries, in one transaction.
// An outcome the ledger refuses (the delivery is already sent, or in a
// state that does not allow the change, or gone) is reported in refused at
// its index and changes nothing; the others are recorded. claims[i] gets at
// most requests[i].N deliveries: queued ones and deferred ones whose next
// attempt has come by now, together in (due_at, id) order, each made
// sending with one more attempt. Any other error rolls back the whole transaction.
func (db *DB) Settle(ctx context.Context, now time.Time, outcomes []outbox.Result, requests []outbox.ClaimRequest) (claims [][]outbox.Claim, refused []error, err error) {
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
		recorded, err := recordSent(ctx, tx, at, outcomes)
		if err != nil {
			return err
		}
		for i, o := range outcomes {
			if recorded[i] {
				continue
			}
			err := record(ctx, tx, at, o)
			if errors.Is(err, errAlreadySent) || errors.Is(err, errWrongState) || errors.Is(err, digest.ErrNotFound) {
				refused[i] = fmt.Errorf("delivery %d: %w", o.DeliveryID, err)
				continue
			}
			if err != nil {
				return fmt.Errorf("record delivery %d %s: %w", o.DeliveryID, o.Status, err)
			}
		}
		claims = make([][]outbox.Claim, len(requests))
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

// recordSent records, inside tx, the sent outcomes among outcomes whose
// delivery is sending (a worker's claim, the common case) in two
// statements for the whole round instead of two per message: the
// deliveries and their events. Their readers' watermarks are left to
// CatchUpWatermarks, which reads those events. recorded[i] says
// outcomes[i] was; the rest go through record one at a time, which also
// refuses what must be refused.
func recordSent(ctx context.Context, tx *sql.Tx, at time.Time, outcomes []outbox.Result) (recorded []bool, err error) {
	type row struct {
		ID     int64  `json:"i"`
		SentAt string `json:"a"`
		Reply  string `json:"r"`
	}
	var rows []row
	index := make(map[int64]int) // delivery id → index in outcomes
	for i, o := range outcomes {
		if o.Status != digest.DeliverySent {
			continue
		}
		if _, dup := index[o.DeliveryID]; dup {
			// A second outcome for one delivery in a round: leave it to
			// record, which refuses it as already sent.
			continue
		}
		index[o.DeliveryID] = i
		rows = append(rows, row{o.DeliveryID, formatTime(o.SentAt), o.Reason})
	}
	recorded = make([]bool, len(outcomes))
	if len(rows) == 0 {
		return recorded, nil
	}
	list, err := json.Marshal(rows)
	if err != nil {
		return nil, fmt.Errorf("record sent deliveries: %w", err)
	}
	stamp := formatTime(at)
	done, err := queryRows(ctx, tx, func(s scanner) (int64, error) {
		var id int64
		return id, s.Scan(&id)
	}, markSentBatch, stamp, string(list))
	if err != nil {
		return nil, fmt.Errorf("record sent deliveries: %w", err)
	}
	if len(done) == 0 {
		return recorded, nil
	}
	// Events for exactly the deliveries updated.
	var subset []row
	if len(done) == len(rows) {
		subset = rows
	} else {
		updated := make(map[int64]bool, len(done))
		for _, id := range done {
			updated[id] = true
		}
		for _, r := range rows {
			if updated[r.ID] {
				subset = append(subset, r)
			}
		}
		if list, err = json.Marshal(subset); err != nil {
			return nil, fmt.Errorf("record sent deliveries: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, sentEventsBatch, stamp, string(list)); err != nil {
		return nil, fmt.Errorf("record events of sent deliveries: %w", err)
	}
	for _, r := range subset {
		recorded[index[r.ID]] = true
	}
	return recorded, nil
}

// The statements of recordSent. ?1 is the time of recording, ?2 the JSON
// array of {"i": delivery id, "a": sent_at, "r": reply}. markSentBatch
// returns the ids of the deliveries it made sent: those that were sending.
// next_attempt_at is not assigned: a sending delivery has none (claim
// clears it).
const (
	markSentBatch = `UPDATE deliveries SET status = 'sent', updated_at = ?1, sent_at = j.value ->> '$.a', error = ''
		FROM json_each(?2) j
		WHERE deliveries.id = j.value ->> '$.i' AND deliveries.status = 'sending'
		RETURNING deliveries.id`
	sentEventsBatch = `INSERT INTO delivery_events (delivery_id, at, from_status, to_status, reason)
		SELECT j.value ->> '$.i', ?1, 'sending', 'sent', j.value ->> '$.r' FROM json_each(?2) j`
)

// record applies one outcome inside tx.
func record(ctx context.Context, tx *sql.Tx, at time.Time, o outbox.Result) error {
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

// claim takes up to n deliveries for holder inside tx: queued ones and
// deferred ones whose next attempt is due by now, together in (due_at, id)
// order.
//
// It is on the send pass's hot path, so its statements avoid what SQLite
// pays for with a temporary table each time (IN over a subquery, ORDER BY
// that no index gives, RETURNING): rows are joined from json_each, and
// orders are restored in Go from the ids it picked.
func claim(ctx context.Context, tx *sql.Tx, now, at time.Time, holder string, n int) ([]outbox.Claim, error) {
	picks, err := pickClaims(ctx, tx, now, n)
	if err != nil || len(picks) == 0 {
		return nil, err
	}
	ids := make([]int64, len(picks))
	for i, p := range picks {
		ids[i] = p.id
	}
	idList := int64sJSON(ids)
	stamp := formatTime(at)
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO delivery_events (delivery_id, at, from_status, to_status, reason)
		SELECT d.id, ?, d.status, ?, ? FROM json_each(?) j JOIN deliveries d ON d.id = j.value`,
		stamp, string(digest.DeliverySending), "claimed by "+holder, idList); err != nil {
		return nil, fmt.Errorf("record claims: %w", err)
	}
	// One statement for the batch: UPDATE ... FROM json_each joins the list
	// to the rows by primary key (WHERE id IN (json_each) would build a
	// temporary table for the list, and a statement per row costs a
	// round trip through database/sql and cgo each).
	if _, err := tx.ExecContext(ctx, claimUpdate, stamp, holder, idList); err != nil {
		return nil, fmt.Errorf("claim deliveries %s: %w", idList, err)
	}
	// Read them back in the same transaction: a read after the commit
	// could fail and leave rows "sending" with nobody working them.
	claims, err := readClaims(ctx, tx, ids, idList)
	if err != nil {
		return nil, fmt.Errorf("read claimed deliveries: %w", err)
	}
	return claims, nil
}

// pick is a delivery chosen for a claim.
type pick struct {
	id  int64
	due sql.NullString // due_at as stored: text in time order, NULL first
}

// pickClaims chooses up to n deliveries in claim order. The queue and the
// due deferrals are read separately so each uses its index; an OR would
// sort the whole queue on every claim. The queue is read through
// deliveries_queued, named: the partial index only matches the literal
// 'queued' (not a parameter), and left to itself the planner may prefer
// another index (deliveries_claim did, before 0006) and sort every queued
// row.
func pickClaims(ctx context.Context, tx *sql.Tx, now time.Time, n int) ([]pick, error) {
	scan := func(s scanner) (pick, error) {
		var p pick
		return p, s.Scan(&p.id, &p.due)
	}
	queued, err := queryRows(ctx, tx, scan, claimQueue, n)
	if err != nil {
		return nil, fmt.Errorf("find queued deliveries: %w", err)
	}
	due, err := queryRows(ctx, tx, scan, claimDeferred, boundTime(now), n)
	if err != nil {
		return nil, fmt.Errorf("find deferred deliveries due: %w", err)
	}
	if len(due) == 0 {
		return queued, nil
	}
	// Both lists are in (due_at, id) order: take the first n of the two.
	picks := append(queued, due...)
	slices.SortFunc(picks, func(a, b pick) int {
		if c := cmpDue(a.due, b.due); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	return picks[:min(n, len(picks))], nil
}

// claimUpdate makes the deliveries in the JSON array ?3 sending for holder
// ?2, stamped ?1, with one more attempt.
const claimUpdate = `UPDATE deliveries SET status = 'sending', updated_at = ?1, attempts = attempts + 1, claimed_by = ?2, next_attempt_at = NULL
	FROM json_each(?3) j WHERE deliveries.id = j.value`

// claimQueue selects the first ? queued deliveries' (id, due_at) in claim
// order, reading only those rows of deliveries_queued.
const claimQueue = `SELECT id, due_at FROM deliveries INDEXED BY deliveries_queued
	WHERE status = 'queued' ORDER BY due_at, id LIMIT ?`

// claimDeferred selects the first ? deferred deliveries' (id, due_at)
// whose next attempt is due by ?, in claim order, from deliveries_deferred
// (again only with the literal status). The sort covers only the deferred
// deliveries that are due, never the queue.
const claimDeferred = `SELECT id, due_at FROM deliveries WHERE status = 'deferred' AND next_attempt_at <= ?
	ORDER BY due_at, id LIMIT ?`

// claimRead selects the deliveries whose ids are in the JSON array ?, each
// with its reader, as scanClaim reads them. d.* is deliveryColumns (named
// directly, id would be ambiguous beside the reader's); the subquery is
// flattened, so each delivery is one primary key lookup. A delivery whose
// reader is gone has no row here (readClaims reads it alone): an inner
// join lets every column scan straight into its field.
const claimRead = `SELECT d.*, ` + subscriberColumns + `
	FROM json_each(?) j
	CROSS JOIN (SELECT ` + deliveryColumns + ` FROM deliveries) d ON d.id = j.value
	JOIN subscribers s ON s.id = d.subscriber_id`

// readClaims reads the deliveries ids (idList as JSON), in that order, each
// with its brief ids in planned order (from its own row) and its reader with the reader's
// regions in order.
func readClaims(ctx context.Context, tx *sql.Tx, ids []int64, idList string) ([]outbox.Claim, error) {
	order := make(map[int64]int, len(ids))
	for i, id := range ids {
		order[id] = i
	}
	rows, err := queryRows(ctx, tx, scanClaim, claimRead, idList)
	if err != nil {
		return nil, err
	}
	if len(rows) < len(ids) {
		// Readers who no longer exist: their deliveries come with a zero
		// Subscriber, which the pass suppresses.
		found := make(map[int64]bool, len(rows))
		for _, c := range rows {
			found[c.Delivery.ID] = true
		}
		for _, id := range ids {
			if found[id] {
				continue
			}
			ds, err := queryRows(ctx, tx, scanDelivery, `SELECT `+deliveryColumns+` FROM deliveries WHERE id = ?`, id)
			if err != nil {
				return nil, err
			}
			for _, d := range ds {
				rows = append(rows, outbox.Claim{Delivery: d})
			}
		}
	}
	if len(rows) != len(ids) {
		return nil, fmt.Errorf("%d of %d claimed deliveries found", len(rows), len(ids))
	}
	claims := make([]outbox.Claim, len(ids))
	var readers []digest.Subscriber
	for _, c := range rows {
		claims[order[c.Delivery.ID]] = c
	}
	for _, c := range claims {
		if c.Subscriber.ID != 0 {
			readers = append(readers, c.Subscriber)
		}
	}
	if err := loadRegions(ctx, tx, readers); err != nil {
		return nil, err
	}
	for i := range claims {
		if claims[i].Subscriber.ID != 0 {
			claims[i].Subscriber, readers = readers[0], readers[1:]
		}
	}
	return claims, nil
}

// scanClaim scans one row of claimRead: the delivery's columns, then its
// reader's, in one Scan through the destinations scanDelivery and
// scanSubscriber use, so each column list stays defined in one place.
func scanClaim(s scanner) (outbox.Claim, error) {
	var (
		d   deliveryRow
		sub subscriberRow
		c   outbox.Claim
		err error
	)
	if err := s.Scan(append(d.dest(), sub.dest()...)...); err != nil {
		return outbox.Claim{}, fmt.Errorf("scan claim: %w", err)
	}
	if c.Delivery, err = d.delivery(); err != nil {
		return outbox.Claim{}, err
	}
	if c.Subscriber, err = sub.subscriber(); err != nil {
		return outbox.Claim{}, err
	}
	return c, nil
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
