package sqlite

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"

	digest "github.com/newsroom/digest"
)

// erasedPrefix marks a suppression keyed by a hash: an erased address,
// whose plain text the database no longer holds.
const erasedPrefix = "hmac-sha256:"

// errNoHashKey means an erasure was asked for without the key that makes
// the kept hash unguessable.
var errNoHashKey = errors.New("no key for the erasure hash: the config's secret is needed")

// erasedKey is the keyed hash an erased address is suppressed under. Keyed,
// so that the suppression list cannot be reversed by hashing guesses.
func erasedKey(key []byte, email string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(digest.EmailKey(email)))
	return erasedPrefix + hex.EncodeToString(m.Sum(nil))
}

// Suppress adds an address to the suppression list (it is never mailed,
// and imports do not re-add it) and unsubscribes its subscriber, if any.
// Suppressing an address twice keeps the first reason.
func (db *DB) Suppress(ctx context.Context, email, reason string) error {
	now := db.now()
	err := db.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO suppressions (email_key, reason, created_at) VALUES (?, ?, ?)
			ON CONFLICT (email_key) DO NOTHING`, digest.EmailKey(email), reason, formatTime(now)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE subscribers SET status = ?, updated_at = ?
			WHERE email_key = ? AND status IN (?, ?)`, string(digest.StatusUnsubscribed), formatTime(now),
			digest.EmailKey(email), string(digest.StatusActive), string(digest.StatusPending))
		return err
	})
	if err != nil {
		return fmt.Errorf("suppress %s: %w", email, err)
	}
	return nil
}

// Unsuppress takes an address off the suppression list. It does not
// resubscribe anyone: that stays a deliberate act. removed reports whether
// the address was on the list. An erased address cannot be unsuppressed by
// accident: it needs the key, and the same address typed again.
func (db *DB) Unsuppress(ctx context.Context, email string) (removed bool, err error) {
	err = db.write(ctx, func(tx *sql.Tx) error {
		keys := []any{digest.EmailKey(email)}
		if len(db.HashKey) > 0 {
			keys = append(keys, erasedKey(db.HashKey, email))
		} else {
			keys = append(keys, digest.EmailKey(email))
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM suppressions WHERE email_key IN (?, ?)`, keys...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		removed = n > 0
		return err
	})
	if err != nil {
		return false, fmt.Errorf("unsuppress %s: %w", email, err)
	}
	return removed, nil
}

// EraseSubscriber deletes everything the database holds about a person
// (GDPR erasure): the subscriber, their regions, their deliveries and their
// history. What remains is a keyed hash of the address on the suppression
// list, so the address is never mailed again and an import cannot bring it
// back, while the list does not reveal it. It needs db.HashKey.
func (db *DB) EraseSubscriber(ctx context.Context, email string) error {
	if len(db.HashKey) == 0 {
		return errNoHashKey
	}
	now := db.now()
	err := db.write(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM subscribers WHERE email_key = ?`, digest.EmailKey(email)).Scan(&id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			// Nobody by that address: still suppress it, which is what
			// the person asked for.
		case err != nil:
			return err
		default:
			for _, q := range []string{
				`DELETE FROM deliveries WHERE subscriber_id = ?`, // its brief list is a column; cascades to events
				`DELETE FROM subscribers WHERE id = ?`,           // cascades to regions
			} {
				if _, err := tx.ExecContext(ctx, q, id); err != nil {
					return err
				}
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM suppressions WHERE email_key = ?`, digest.EmailKey(email)); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO suppressions (email_key, reason, created_at) VALUES (?, ?, ?)
			ON CONFLICT (email_key) DO NOTHING`, erasedKey(db.HashKey, email), "erased", formatTime(now))
		return err
	})
	if err != nil {
		return fmt.Errorf("erase %s: %w", email, err)
	}
	return nil
}
