package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// A reader's watermark is the cut-off of the last digest they were sent:
// planning gives them the briefs published since. Recording a delivery
// sent does not move it (Settle records a round's sent deliveries without
// touching subscribers, whose rows would otherwise cost one scattered page
// per message in every commit). CatchUpWatermarks
// applies what the pass sent, in bulk, and a pass calls it before it plans
// and after it sends, so planning never reads a watermark older than the
// last pass left behind.
//
// A watermark that lags (the process died mid-pass, before the catch-up)
// widens the reader's next window: planning excludes what a sent digest
// cut off inside the window carried (see RecentDeliveries), so it costs a
// longer read, never a brief sent twice; a brief published before the
// true cut-off but stored later than late_brief_grace allows could come
// in. The next pass catches up before it plans, so that window is the
// exception, not the rule.

// CatchUpWatermarks moves the watermark of every reader with a delivery
// marked sent since the last catch-up to the latest cut-off among those
// deliveries, never back, and reports how many readers' watermarks moved.
// It reads the "sent" events appended since the last catch-up (the mark in
// watermark_progress), each reader once, in one statement.
func (db *DB) CatchUpWatermarks(ctx context.Context) (moved int, err error) {
	err = db.write(ctx, func(tx *sql.Tx) error {
		var from, to int64
		if err := tx.QueryRowContext(ctx, `SELECT last_event_id FROM watermark_progress`).Scan(&from); err != nil {
			return fmt.Errorf("read progress: %w", err)
		}
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM delivery_events`).Scan(&to); err != nil {
			return fmt.Errorf("read newest event: %w", err)
		}
		if to <= from {
			return nil
		}
		res, err := tx.ExecContext(ctx, catchUpWatermarks,
			formatTime(db.now()), from, to)
		if err != nil {
			return fmt.Errorf("move watermarks: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("move watermarks: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE watermark_progress SET last_event_id = ?`, to); err != nil {
			return fmt.Errorf("record progress: %w", err)
		}
		moved = int(n)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("catch up watermarks: %w", err)
	}
	return moved, nil
}

// catchUpWatermarks is CatchUpWatermarks' statement: ?1 is the time of
// the change, events (?2, ?3] are applied. Text comparison is time
// comparison: see timeLayout.
const catchUpWatermarks = `UPDATE subscribers SET watermark = x.cutoff, updated_at = ?1
	FROM (SELECT d.subscriber_id AS sid, MAX(d.cutoff) AS cutoff
		FROM delivery_events e JOIN deliveries d ON d.id = e.delivery_id
		WHERE e.id > ?2 AND e.id <= ?3 AND e.to_status = 'sent'
		GROUP BY d.subscriber_id) AS x
	WHERE subscribers.id = x.sid AND (subscribers.watermark IS NULL OR subscribers.watermark < x.cutoff)`
