package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
)

// TestMigrate0006KeepsFindingDeliveries upgrades a database written at
// schema 0005, with deliveries in every state, and checks that what the
// send pass and the operator commands find by status is still found
// through the new partial indexes: counts, lists, recovery, claims,
// expiry and re-queueing.
func TestMigrate0006KeepsFindingDeliveries(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "digest.db")
	const day = "2026-03-01"
	// One delivery per state, planned at schema 0005 by raw SQL, as the
	// binary of that version left them.
	rows := []struct {
		status digest.DeliveryStatus
		due    time.Time
		next   time.Time // deferred only
	}{
		{digest.DeliveryQueued, at(7, 0), time.Time{}},
		{digest.DeliverySending, at(6, 0), time.Time{}},
		{digest.DeliveryDeferred, at(6, 30), at(7, 15)},
		{digest.DeliverySent, at(6, 0), time.Time{}},
		{digest.DeliveryFailed, at(6, 0), time.Time{}},
		{digest.DeliveryExpired, at(6, 0), time.Time{}},
		{digest.DeliverySuppressed, at(6, 0), time.Time{}},
		{digest.DeliverySent, at(6, 0), time.Time{}},
	}
	ids := writeSchema0005(t, path, day, func(tx *sql.Tx, sub int64, i int) (int64, error) {
		r := rows[i]
		var next any
		if !r.next.IsZero() {
			next = formatTime(r.next)
		}
		res, err := tx.Exec(`INSERT INTO deliveries (subscriber_id, digest_date, message_id, status, cutoff,
				created_at, updated_at, due_at, next_attempt_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			sub, day, fmt.Sprintf("<%d@test>", i), string(r.status), formatTime(at(5, 0)),
			formatTime(at(5, 0)), formatTime(at(5, 0)), formatTime(r.due), next)
		if err != nil {
			return 0, err
		}
		return res.LastInsertId()
	}, len(rows))
	byStatus := map[digest.DeliveryStatus][]int64{}
	for i, r := range rows {
		byStatus[r.status] = append(byStatus[r.status], ids[i])
	}

	db := openAt(t, path)
	db.Now = tickingClock()
	if v := schemaVersionOf(t, db); v < 6 {
		t.Fatalf("schema version %d, want at least 6", v)
	}
	var check string
	if err := db.rw.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check = %q, %v", check, err)
	}

	wantCounts := map[digest.DeliveryStatus]int{}
	for s, ids := range byStatus {
		wantCounts[s] = len(ids)
	}
	for _, date := range []digest.Date{day, ""} {
		if counts := countDeliveries(t, db, date); !maps.Equal(counts, wantCounts) {
			t.Errorf("deliveries of %q by status = %v, want %v", date, counts, wantCounts)
		}
	}
	st, err := db.Status(ctx, at(12, 0))
	if err != nil {
		t.Fatal(err)
	}
	if st.Queued != 1 || st.Deferred != 1 || !st.OldestQueuedDue.Equal(at(7, 0)) {
		t.Errorf("Status queue = %d queued, %d deferred, oldest due %v; want 1, 1, %v", st.Queued, st.Deferred, st.OldestQueuedDue, at(7, 0))
	}
	if len(st.Dates) != 1 || !maps.Equal(st.Dates[0].Counts, wantCounts) {
		t.Errorf("Status dates = %+v; want %s with %v", st.Dates, day, wantCounts)
	}
	for _, s := range digest.DeliveryStatuses {
		for _, f := range []DeliveryFilter{{Status: s}, {Status: s, Date: day}} {
			ds, err := db.ListDeliveries(ctx, f)
			if err != nil {
				t.Fatalf("ListDeliveries(%+v): %v", f, err)
			}
			if got := deliveryIDs(ds); !slices.Equal(got, byStatus[s]) {
				t.Errorf("ListDeliveries(%+v) = %v; want %v", f, got, byStatus[s])
			}
		}
	}

	// The pass: the one left sending goes back in the queue, and claims
	// take it, the deferred one whose time came and the queued one in due
	// order (06:00, 06:30, 07:00).
	if n, err := db.RecoverSending(ctx); err != nil || n != 1 {
		t.Fatalf("RecoverSending = %d, %v; want 1", n, err)
	}
	var claimed []int64
	for {
		d, err := db.ClaimDelivery(ctx, at(7, 30), "test")
		if err != nil {
			break
		}
		claimed = append(claimed, d.ID)
	}
	want := []int64{byStatus[digest.DeliverySending][0], byStatus[digest.DeliveryDeferred][0], byStatus[digest.DeliveryQueued][0]}
	if !slices.Equal(claimed, want) {
		t.Errorf("claimed %v; want %v (recovered, deferred, queued)", claimed, want)
	}
	if n, err := db.RequeueDeliveries(ctx, RetryFilter{Status: digest.DeliveryFailed, Date: day}); err != nil || n != 1 {
		t.Errorf("RequeueDeliveries(failed) = %d, %v; want 1", n, err)
	}
	if n, err := db.ExpireLate(ctx, at(12, 0), time.Hour); err != nil || n != 1 {
		t.Errorf("ExpireLate = %d, %v; want 1 (the re-queued failure)", n, err)
	}
}

// writeSchema0005 creates a database at path at schema version 0005 with
// one active reader per delivery, and inserts n deliveries through insert
// (the reader and the index i given), returning their ids.
func writeSchema0005(t *testing.T, path, day string, insert func(tx *sql.Tx, sub int64, i int) (int64, error), n int) []int64 {
	t.Helper()
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite3", "file:"+escapePath(path)+"?_journal_mode=WAL&_foreign_keys=on")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	tx, err := raw.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:5] {
		if _, err := tx.Exec(m.sql); err != nil {
			t.Fatalf("apply %s: %v", m.name, err)
		}
		if _, err := tx.Exec(`INSERT INTO schema_migrations VALUES (?, ?, ?)`, m.version, m.name, formatTime(at(0, 0))); err != nil {
			t.Fatal(err)
		}
	}
	ids := make([]int64, n)
	for i := range n {
		res, err := tx.Exec(`INSERT INTO subscribers (email, email_key, send_time, status, created_at, updated_at)
			VALUES (?, ?, '07:00', 'active', ?, ?)`,
			fmt.Sprintf("r%d@example.com", i), fmt.Sprintf("r%d@example.com", i), formatTime(at(0, 0)), formatTime(at(0, 0)))
		if err != nil {
			t.Fatal(err)
		}
		sub, err := res.LastInsertId()
		if err != nil {
			t.Fatal(err)
		}
		if ids[i], err = insert(tx, sub, i); err != nil {
			t.Fatalf("insert delivery %d on %s: %v", i, day, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// deliveryIDs returns the ids of ds, in order.
func deliveryIDs(ds []digest.Delivery) []int64 {
	ids := make([]int64, 0, len(ds))
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	return ids
}
