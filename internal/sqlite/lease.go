package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	digest "github.com/newsroom/digest"
)

// AcquireLease takes the named lease for holder until now+ttl, if it is
// free, expired, or already holder's. Otherwise it fails with a
// *digest.LeaseHeldError naming the holder. The check and the take are one
// immediate transaction, so two processes cannot both win.
func (db *DB) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (digest.Lease, error) {
	lease := digest.Lease{Name: name, Holder: holder, ExpiresAt: now.Add(ttl)}
	err := db.write(ctx, func(tx *sql.Tx) error {
		var cur digest.Lease
		err := tx.QueryRowContext(ctx, `SELECT name, holder, expires_at FROM leases WHERE name = ?`, name).
			Scan(&cur.Name, &cur.Holder, timeCol{&cur.ExpiresAt})
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case cur.Holder != holder && cur.ExpiresAt.After(now):
			return &digest.LeaseHeldError{Lease: cur}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at`,
			name, holder, formatTime(lease.ExpiresAt))
		return err
	})
	if err != nil {
		return digest.Lease{}, fmt.Errorf("acquire lease %q: %w", name, err)
	}
	return lease, nil
}

// ReleaseLease gives the lease up, if holder still holds it.
func (db *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder)
		return err
	})
	if err != nil {
		return fmt.Errorf("release lease %q: %w", name, err)
	}
	return nil
}

// TakeOverLease gives the named lease to holder if, and only if, it is still
// held by from: a process that is known to be dead. It fails with a
// *digest.LeaseHeldError if someone else got there first.
func (db *DB) TakeOverLease(ctx context.Context, name, from, holder string, now time.Time, ttl time.Duration) (digest.Lease, error) {
	lease := digest.Lease{Name: name, Holder: holder, ExpiresAt: now.Add(ttl)}
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE leases SET holder = ?, expires_at = ? WHERE name = ? AND holder = ?`,
			holder, formatTime(lease.ExpiresAt), name, from)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var cur digest.Lease
		if err := tx.QueryRowContext(ctx, `SELECT name, holder, expires_at FROM leases WHERE name = ?`, name).
			Scan(&cur.Name, &cur.Holder, timeCol{&cur.ExpiresAt}); err != nil {
			return notFound(err)
		}
		return &digest.LeaseHeldError{Lease: cur}
	})
	if err != nil {
		return digest.Lease{}, fmt.Errorf("take over lease %q from %s: %w", name, from, err)
	}
	return lease, nil
}
