package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	digest "github.com/newsroom/digest"
)

// UpdateSubscriber changes an existing subscriber, found by s.ID: name,
// regions (in s's order), time zone, send time and status. The address,
// watermark, consent and creation time are not changed: the address is
// the reader's identity, the watermark moves only with a sent digest, and
// consent is recorded by CreateSubscriber and ConfirmSubscriber. s is
// checked as CreateSubscriber checks it. On success s.Email, s.CreatedAt
// and s.UpdatedAt are set from the stored row.
//
// When s.UpdatedAt is not zero, the update applies only if the stored row
// still has that UpdatedAt, and fails with digest.ErrConflict otherwise:
// a caller that read the subscriber, let a person edit it and writes it
// back (the preferences page) must not undo a change made in between,
// such as an unsubscribe. A zero UpdatedAt overwrites unconditionally.
// It fails with digest.ErrNotFound when there is no such subscriber.
func (db *DB) UpdateSubscriber(ctx context.Context, s *digest.Subscriber) error {
	check := *s
	if check.Email == "" {
		check.Email = fmt.Sprintf("subscriber %d", s.ID) // names the record in errors
	}
	check.Watermark = time.Time{} // not written here
	if err := validateSubscriber(&check); err != nil {
		return err
	}
	now := db.now()
	var email string
	var created time.Time
	err := db.write(ctx, func(tx *sql.Tx) error {
		var stored time.Time
		err := tx.QueryRowContext(ctx, `SELECT email, created_at, updated_at FROM subscribers WHERE id = ?`, s.ID).
			Scan(&email, timeCol{&created}, timeCol{&stored})
		if err != nil {
			return notFound(err)
		}
		if !s.UpdatedAt.IsZero() && !stored.Equal(s.UpdatedAt) {
			return fmt.Errorf("%w: changed at %s, after it was read", digest.ErrConflict, stored.Format(time.RFC3339Nano))
		}
		if _, err := tx.ExecContext(ctx, `
			UPDATE subscribers SET name = ?, time_zone = ?, send_time = ?, status = ?, updated_at = ?
			WHERE id = ?`,
			s.Name, s.TimeZone, s.SendTime.String(), string(s.Status), formatTime(now), s.ID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM subscriber_regions WHERE subscriber_id = ?`, s.ID); err != nil {
			return fmt.Errorf("delete regions: %w", err)
		}
		return insertRegions(ctx, tx, s.ID, s.Regions)
	})
	if err != nil {
		return fmt.Errorf("update subscriber %d: %w", s.ID, err)
	}
	s.Email, s.CreatedAt, s.UpdatedAt = email, created, now
	return nil
}

// ConfirmSubscriber records a confirmed double opt-in: a pending
// subscriber becomes active, with confirmed_at and the consent's time set
// to c.ConfirmedAt (the store's clock when zero) and the consent's IP,
// user agent and text version taken from c. The consent source (how they
// joined) is kept unless c.Source is set.
//
// It is idempotent: for a subscriber already active it changes nothing and
// reports changed == false, so a second click or a reload is harmless. A
// subscriber who is expired, unsubscribed or bounced is not activated: the
// error is a *digest.FieldError on "status" saying why. It fails with
// digest.ErrNotFound when there is no such subscriber.
func (db *DB) ConfirmSubscriber(ctx context.Context, id int64, c digest.Consent) (changed bool, err error) {
	at := c.ConfirmedAt
	if at.IsZero() {
		at = db.now()
	}
	at = at.UTC()
	if err := checkTime(at); err != nil {
		return false, digest.Invalid(fmt.Sprintf("subscriber %d", id), "confirmed_at", "%v", err)
	}
	err = db.write(ctx, func(tx *sql.Tx) error {
		status, err := subscriberStatus(ctx, tx, id)
		if err != nil {
			return err
		}
		switch status {
		case digest.StatusActive:
			return nil
		case digest.StatusPending:
		case digest.StatusExpired:
			return digest.Invalid(fmt.Sprintf("subscriber %d", id), "status",
				"expired: the confirmation came after the sign-up lapsed; they must sign up again")
		default:
			return digest.Invalid(fmt.Sprintf("subscriber %d", id), "status",
				"%s: only a pending subscriber can confirm", status)
		}
		changed = true
		_, err = tx.ExecContext(ctx, `
			UPDATE subscribers SET status = ?, confirmed_at = ?, consent_at = ?,
				consent_source = CASE WHEN ? = '' THEN consent_source ELSE ? END,
				consent_ip = ?, consent_user_agent = ?, consent_text_version = ?, updated_at = ?
			WHERE id = ?`,
			string(digest.StatusActive), formatTime(at), formatTime(at), c.Source, c.Source,
			c.IP, c.UserAgent, c.TextVersion, formatTime(db.now()), id)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("confirm subscriber %d: %w", id, err)
	}
	return changed, nil
}

// ExpirePending marks expired every pending subscriber created before
// createdBefore: a double opt-in not confirmed in time. It returns how
// many it expired. Expired readers get no digests, and their confirmation
// links no longer activate them.
func (db *DB) ExpirePending(ctx context.Context, createdBefore time.Time) (int, error) {
	var n int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE subscribers SET status = ?, updated_at = ?
			WHERE status = ? AND created_at < ?`,
			string(digest.StatusExpired), formatTime(db.now()), string(digest.StatusPending), boundTime(createdBefore))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("expire pending subscribers created before %s: %w", createdBefore.UTC().Format(time.RFC3339), err)
	}
	return int(n), nil
}
