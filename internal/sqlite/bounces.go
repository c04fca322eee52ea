package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	digest "github.com/newsroom/digest"
)

// setStatus changes a subscriber's status inside a write transaction.
func setStatus(ctx context.Context, tx *sql.Tx, subscriberID int64, status digest.SubscriberStatus, now time.Time) error {
	res, err := tx.ExecContext(ctx, `UPDATE subscribers SET status = ?, updated_at = ? WHERE id = ?`,
		string(status), formatTime(now), subscriberID)
	if err != nil {
		return fmt.Errorf("set subscriber %d %s: %w", subscriberID, status, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("subscriber %d: %w", subscriberID, digest.ErrNotFound)
	}
	return nil
}

// MarkBounced records a hard bounce: the subscriber becomes bounced and gets
// no more digests. An unsubscribed subscriber stays unsubscribed. changed
// reports whether the status moved.
func (db *DB) MarkBounced(ctx context.Context, subscriberID int64) (changed bool, err error) {
	err = db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE subscribers SET status = ?, updated_at = ?
			WHERE id = ? AND status IN (?, ?)`,
			string(digest.StatusBounced), formatTime(db.now()), subscriberID,
			string(digest.StatusActive), string(digest.StatusPending))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		changed = n > 0
		if err == nil && !changed {
			_, err = subscriberStatus(ctx, tx, subscriberID)
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("mark subscriber %d bounced: %w", subscriberID, err)
	}
	return changed, nil
}

// RecordSoftBounce counts a soft bounce against a subscriber; when the
// count reaches threshold (> 0) the subscriber is marked bounced. It
// returns the new count and whether this bounce tipped them over.
func (db *DB) RecordSoftBounce(ctx context.Context, subscriberID int64, threshold int) (count int, bounced bool, err error) {
	err = db.write(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `UPDATE subscribers SET soft_bounces = soft_bounces + 1, updated_at = ?
			WHERE id = ? RETURNING soft_bounces`, formatTime(db.now()), subscriberID).Scan(&count)
		if err != nil {
			return notFound(err)
		}
		if threshold <= 0 || count < threshold {
			return nil
		}
		status, err := subscriberStatus(ctx, tx, subscriberID)
		if err != nil || status != digest.StatusActive {
			return err
		}
		bounced = true
		return setStatus(ctx, tx, subscriberID, digest.StatusBounced, db.now())
	})
	if err != nil {
		return 0, false, fmt.Errorf("record soft bounce of subscriber %d: %w", subscriberID, err)
	}
	return count, bounced, nil
}

// Complain records a complaint (the reader marked a digest as spam): the
// subscriber is unsubscribed and the address suppressed, so that no import
// or re-subscription mails it again by mistake.
func (db *DB) Complain(ctx context.Context, subscriberID int64, reason string) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		var email string
		if err := tx.QueryRowContext(ctx, `SELECT email FROM subscribers WHERE id = ?`, subscriberID).Scan(&email); err != nil {
			return notFound(err)
		}
		if err := setStatus(ctx, tx, subscriberID, digest.StatusUnsubscribed, db.now()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO suppressions (email_key, reason, created_at) VALUES (?, ?, ?)
			ON CONFLICT (email_key) DO NOTHING`, digest.EmailKey(email), reason, formatTime(db.now()))
		return err
	})
	if err != nil {
		return fmt.Errorf("record complaint of subscriber %d: %w", subscriberID, err)
	}
	return nil
}

// Suppressed reports whether an address is on the suppression list, and
// why: suppressed by an operator or a complaint, or erased (found by its
// keyed hash, when db.HashKey is set).
func (db *DB) Suppressed(ctx context.Context, email string) (reason string, ok bool, err error) {
	hashed := digest.EmailKey(email)
	if len(db.HashKey) > 0 {
		hashed = erasedKey(db.HashKey, email)
	}
	err = db.read(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT reason FROM suppressions WHERE email_key IN (?, ?) LIMIT 1`,
			digest.EmailKey(email), hashed).Scan(&reason)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("suppression of %s: %w", email, err)
	}
	return reason, true, nil
}

func subscriberStatus(ctx context.Context, tx *sql.Tx, id int64) (digest.SubscriberStatus, error) {
	var s string
	if err := tx.QueryRowContext(ctx, `SELECT status FROM subscribers WHERE id = ?`, id).Scan(&s); err != nil {
		return "", fmt.Errorf("subscriber %d: %w", id, notFound(err))
	}
	return digest.SubscriberStatus(s), nil
}
