package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	digest "github.com/newsroom/digest"
)

// Queries by delivery status. Since migration 0006 no index covers every
// status: each state a delivery is in for a while before it moves on or
// stops has a partial index of its own, and sent, the state almost every
// row ends in, has none, so the send pass's status changes touch only
// small indexes. A partial index serves a query only when the query names
// its state as a literal, so these helpers write the status into the SQL
// text; a status is one of a few fixed lowercase words, checked against
// the domain's list before it is written, never text from outside.

// stateIndex returns the partial index that holds the deliveries in
// status s, or "" for sent (and any status it does not know).
func stateIndex(s digest.DeliveryStatus) string {
	switch s {
	case digest.DeliveryQueued:
		return "deliveries_queued"
	case digest.DeliverySending:
		return "deliveries_sending"
	case digest.DeliveryDeferred:
		return "deliveries_deferred"
	case digest.DeliveryFailed, digest.DeliveryExpired, digest.DeliverySuppressed:
		return "deliveries_stopped"
	}
	return ""
}

// statusIs returns the SQL condition "status = 'x'" for s, or an error
// naming record's status field when s is not a delivery status.
func statusIs(record string, s digest.DeliveryStatus) (string, error) {
	if !s.Valid() {
		return "", digest.Invalid(record, "status", "%q is not a delivery status", s)
	}
	return "status = '" + string(s) + "'", nil
}

// countStatuses counts deliveries by status, of one digest date or ("")
// of all, without reading every row: the day's (or table's) total comes
// from deliveries_date alone, each state with a partial index is counted
// in that index, and sent is what remains. A state the database knows but
// this code has no index for (added by a later migration) is counted by
// reading rows, so it is never taken for sent. Statuses with no
// deliveries are left out of the map, as a GROUP BY would.
func countStatuses(ctx context.Context, tx *sql.Tx, date digest.Date) (map[digest.DeliveryStatus]int, error) {
	var byDate string
	var args []any
	if date != "" {
		byDate, args = countByDate, []any{string(date)}
	}
	var total int
	if err := tx.QueryRowContext(ctx, countTotal+byDate, args...).Scan(&total); err != nil {
		return nil, fmt.Errorf("count deliveries: %w", err)
	}
	states, err := queryRows(ctx, tx, func(s scanner) (digest.DeliveryStatus, error) {
		var st string
		return digest.DeliveryStatus(st), s.Scan(&st)
	}, `SELECT status FROM delivery_states`)
	if err != nil {
		return nil, fmt.Errorf("read delivery states: %w", err)
	}
	counts := map[digest.DeliveryStatus]int{}
	rest := total
	for _, s := range states {
		if s == digest.DeliverySent {
			continue
		}
		var n int
		if err := countState(ctx, tx, s, byDate, args).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s deliveries: %w", s, err)
		}
		if n > 0 {
			counts[s] = n
			rest -= n
		}
	}
	if rest > 0 {
		counts[digest.DeliverySent] = rest
	}
	return counts, nil
}

// countTotal counts deliveries from the smallest index, deliveries_date;
// countByDate narrows it, or a per-state count, to one digest date.
const (
	countTotal  = `SELECT COUNT(*) FROM deliveries WHERE 1`
	countByDate = ` AND digest_date = ?`
)

// countState counts the deliveries in status s (and byDate, a condition
// with args).
func countState(ctx context.Context, tx *sql.Tx, s digest.DeliveryStatus, byDate string, args []any) *sql.Row {
	q, byStatus := countStateQuery(s, byDate)
	return tx.QueryRowContext(ctx, q, append(byStatus, args...)...)
}

// countStateQuery returns the query that counts the deliveries in status s
// and byDate, with the arguments that go before byDate's. It reads s's
// partial index, named: left to itself the planner counts a day's queued
// deliveries through deliveries_date, reading every row of the day, where
// the queue's index holds only the rows it counts. A status without an
// index is passed as an argument and its rows are read.
func countStateQuery(s digest.DeliveryStatus, byDate string) (string, []any) {
	idx := stateIndex(s)
	if idx == "" {
		return `SELECT COUNT(*) FROM deliveries WHERE status = ?` + byDate, []any{string(s)}
	}
	cond, _ := statusIs("", s) // s has an index, so it is a known status
	return `SELECT COUNT(*) FROM deliveries INDEXED BY ` + idx + ` WHERE ` + cond + byDate, nil
}
