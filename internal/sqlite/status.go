package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	digest "github.com/newsroom/digest"
)

// Status is what the database says at a glance: what an operator asks
// first. Every count comes from one read snapshot.
type Status struct {
	Path          string
	SQLiteVersion string
	SchemaVersion int
	// FileSize is the database file plus its write-ahead log, in bytes.
	FileSize int64

	// Subscribers counts subscribers by status; ActiveByRegion counts
	// active subscribers by region code (a reader counts once per region).
	Subscribers    map[digest.SubscriberStatus]int
	ActiveByRegion map[string]int

	// RecentBriefs counts live briefs published in (now-24h, now], by
	// region.
	RecentBriefs map[string]int

	// Dates are the latest (at most two) digest dates with deliveries, newest
	// first, up to the latest date anywhere on Earth at now. Digest dates
	// are readers' local dates, so "today" spans two of them.
	Dates []DateDeliveries

	// Queued and Deferred are the work waiting for a sender;
	// OldestQueuedDue is the earliest due time of a queued delivery (zero
	// when none is queued or none records it).
	Queued, Deferred int
	OldestQueuedDue  time.Time

	// Leases are the leases recorded, live or expired.
	Leases []digest.Lease
}

// DateDeliveries counts one digest date's deliveries by status.
type DateDeliveries struct {
	Date   digest.Date
	Counts map[digest.DeliveryStatus]int
}

// Status reads the database's status as of now.
func (db *DB) Status(ctx context.Context, now time.Time) (Status, error) {
	st := Status{
		Path:           db.path,
		Subscribers:    map[digest.SubscriberStatus]int{},
		ActiveByRegion: map[string]int{},
		RecentBriefs:   map[string]int{},
	}
	size, err := fileSize(db.path)
	if err != nil {
		return Status{}, fmt.Errorf("status of %s: %w", db.path, err)
	}
	st.FileSize = size
	err = db.read(ctx, func(tx *sql.Tx) error {
		for _, step := range []func(context.Context, *sql.Tx, *Status, time.Time) error{
			statusVersions, statusSubscribers, statusBriefs, statusDeliveries, statusLeases,
		} {
			if err := step(ctx, tx, &st, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Status{}, fmt.Errorf("status of %s: %w", db.path, err)
	}
	return st, nil
}

// fileSize is the size of the database file and its WAL.
func fileSize(path string) (int64, error) {
	var total int64
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) && p != path {
			continue
		}
		if err != nil {
			return 0, err
		}
		total += fi.Size()
	}
	return total, nil
}

func statusVersions(ctx context.Context, tx *sql.Tx, st *Status, _ time.Time) error {
	if err := tx.QueryRowContext(ctx, `SELECT sqlite_version()`).Scan(&st.SQLiteVersion); err != nil {
		return fmt.Errorf("sqlite version: %w", err)
	}
	v, err := schemaVersion(ctx, tx)
	st.SchemaVersion = v
	return err
}

// countBy runs a "SELECT key, COUNT(*) ... GROUP BY key" query into add.
func countBy(ctx context.Context, tx *sql.Tx, add func(key string, n int), query string, args ...any) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			key string
			n   int
		)
		if err := rows.Scan(&key, &n); err != nil {
			return err
		}
		add(key, n)
	}
	return rows.Err()
}

func statusSubscribers(ctx context.Context, tx *sql.Tx, st *Status, _ time.Time) error {
	if err := countBy(ctx, tx, func(k string, n int) { st.Subscribers[digest.SubscriberStatus(k)] = n },
		`SELECT status, COUNT(*) FROM subscribers GROUP BY status`); err != nil {
		return fmt.Errorf("count subscribers: %w", err)
	}
	if err := countBy(ctx, tx, func(k string, n int) { st.ActiveByRegion[k] = n }, `
		SELECT r.region, COUNT(*) FROM subscriber_regions r
		JOIN subscribers s ON s.id = r.subscriber_id
		WHERE s.status = ? GROUP BY r.region`, string(digest.StatusActive)); err != nil {
		return fmt.Errorf("count subscribers by region: %w", err)
	}
	return nil
}

func statusBriefs(ctx context.Context, tx *sql.Tx, st *Status, now time.Time) error {
	if err := countBy(ctx, tx, func(k string, n int) { st.RecentBriefs[k] = n }, `
		SELECT region, COUNT(*) FROM briefs
		WHERE published_at > ? AND published_at <= ? AND removed_at IS NULL GROUP BY region`,
		boundTime(now.Add(-24*time.Hour)), boundTime(now)); err != nil {
		return fmt.Errorf("count recent briefs: %w", err)
	}
	return nil
}

// latestZoneOffset is the furthest ahead of UTC any zone runs (Kiribati,
// UTC+14): no reader's local date is later than now's date there.
const latestZoneOffset = 14 * time.Hour

// oldestQueued selects the earliest due time in the queue: the first entry
// of deliveries_queued.
const oldestQueued = `SELECT MIN(due_at) FROM deliveries WHERE status = 'queued'`

func statusDeliveries(ctx context.Context, tx *sql.Tx, st *Status, now time.Time) error {
	latest := digest.DateOf(now.UTC().Add(latestZoneOffset))
	dates, err := queryRows(ctx, tx, func(s scanner) (digest.Date, error) {
		var d string
		return digest.Date(d), s.Scan(&d)
	}, `SELECT DISTINCT digest_date FROM deliveries WHERE digest_date <= ? ORDER BY digest_date DESC LIMIT 2`, string(latest))
	if err != nil {
		return fmt.Errorf("latest digest dates: %w", err)
	}
	for _, d := range dates {
		counts, err := countStatuses(ctx, tx, d)
		if err != nil {
			return fmt.Errorf("count deliveries of %s: %w", d, err)
		}
		st.Dates = append(st.Dates, DateDeliveries{Date: d, Counts: counts})
	}
	if st.Queued, st.Deferred, err = queueCounts(ctx, tx); err != nil {
		return err
	}
	if err := tx.QueryRowContext(ctx, oldestQueued).Scan(timeCol{&st.OldestQueuedDue}); err != nil {
		return fmt.Errorf("oldest queued delivery: %w", err)
	}
	return nil
}

func statusLeases(ctx context.Context, tx *sql.Tx, st *Status, _ time.Time) error {
	ls, err := queryRows(ctx, tx, func(s scanner) (digest.Lease, error) {
		var l digest.Lease
		return l, s.Scan(&l.Name, &l.Holder, timeCol{&l.ExpiresAt})
	}, `SELECT name, holder, expires_at FROM leases ORDER BY name`)
	if err != nil {
		return fmt.Errorf("leases: %w", err)
	}
	st.Leases = ls
	return nil
}

// SendSlots returns how many active subscribers share each (time zone,
// send time): the database does the grouping, so a million readers cost a
// few thousand rows here, not a million subscribers in memory. Who falls
// due when is not decided here (see digest.TimeOfDay.DayAt).
func (db *DB) SendSlots(ctx context.Context) ([]digest.SendSlot, error) {
	var slots []digest.SendSlot
	err := db.read(ctx, func(tx *sql.Tx) error {
		var err error
		slots, err = queryRows(ctx, tx, func(s scanner) (digest.SendSlot, error) {
			var (
				slot     digest.SendSlot
				sendTime string
			)
			if err := s.Scan(&slot.TimeZone, &sendTime, &slot.Readers); err != nil {
				return slot, err
			}
			slot.SendTime, err = digest.ParseTimeOfDay(sendTime)
			if err != nil {
				return slot, fmt.Errorf("send_time: %w", err)
			}
			return slot, nil
		}, `
			SELECT time_zone, send_time, COUNT(*) FROM subscribers
			WHERE status = ? GROUP BY time_zone, send_time`, string(digest.StatusActive))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("send times of active subscribers: %w", err)
	}
	return slots, nil
}

// QueueDepth returns how many deliveries are queued or deferred: the work a
// sender still has. It reads only those states' partial indexes, so it
// costs as much as the queue is long, not the ledger; a pass calls it when
// it ends.
func (db *DB) QueueDepth(ctx context.Context) (int, error) {
	var queued, deferred int
	err := db.read(ctx, func(tx *sql.Tx) error {
		var err error
		queued, deferred, err = queueCounts(ctx, tx)
		return err
	})
	return queued + deferred, err
}

// queueCounts counts the queued and the deferred deliveries, each from its
// state's partial index (the literal status is what lets SQLite use it).
func queueCounts(ctx context.Context, tx *sql.Tx) (queued, deferred int, err error) {
	if err := countState(ctx, tx, digest.DeliveryQueued, "", nil).Scan(&queued); err != nil {
		return 0, 0, fmt.Errorf("queue depth: count queued deliveries: %w", err)
	}
	if err := countState(ctx, tx, digest.DeliveryDeferred, "", nil).Scan(&deferred); err != nil {
		return 0, 0, fmt.Errorf("queue depth: count deferred deliveries: %w", err)
	}
	return queued, deferred, nil
}
