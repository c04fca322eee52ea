package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	digest "github.com/newsroom/digest"
)

// migrateTo creates a database at path holding the schema of the first n
// migrations only, as an older binary left it, and returns a connection to
// it for filling it with data of that shape.
func migrateTo(t *testing.T, path string, n int) *sql.DB {
	t.Helper()
	ctx := context.Background()
	raw, err := sql.Open("sqlite3", "file:"+escapePath(path)+"?_journal_mode=WAL&_foreign_keys=on")
	if err != nil {
		t.Fatal(err)
	}
	raw.SetMaxOpenConns(1)
	t.Cleanup(func() { raw.Close() })
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := raw.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`)
	for _, m := range mustMigrations(t)[:n] {
		exec(m.sql)
		exec(`INSERT INTO schema_migrations VALUES (?, ?, '')`, m.version, m.name)
	}
	return raw
}

// TestMigrateBriefIDs converts a database whose deliveries keep their
// briefs in the delivery_briefs table (migration 0006) into one that keeps
// them in deliveries.brief_ids, and checks that every question asked of
// them gets the answer the old table gave.
func TestMigrateBriefIDs(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "digest.db")
	raw := migrateTo(t, path, 6)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := raw.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	const stamp = "2026-03-01T06:00:00.000000000Z"
	// Briefs 1-5 of lagos, published 01:00-05:00 on March 1; 6 is carried
	// by nothing.
	for id := 1; id <= 6; id++ {
		exec(`INSERT INTO briefs (id, slug, region, headline, published_at, created_at, updated_at)
			VALUES (?, ?, 'lagos', 'h', ?, ?, ?)`, id, "b"+string(rune('0'+id)),
			formatTime(at(id, 0)), stamp, stamp)
	}
	for id := 1; id <= 3; id++ {
		exec(`INSERT INTO subscribers (id, email, email_key, send_time, status, created_at, updated_at)
			VALUES (?, ?, ?, '07:00', 'active', ?, ?)`, id, "r"+string(rune('0'+id))+"@example.com",
			"r"+string(rune('0'+id))+"@example.com", stamp, stamp)
		exec(`INSERT INTO subscriber_regions VALUES (?, 0, 'lagos')`, id)
	}
	// Deliveries in every kind of state; the brief rows of each are
	// inserted out of position order, to show that order comes from
	// position.
	type old struct {
		id, sub int64
		date    digest.Date
		status  digest.DeliveryStatus
		briefs  []int64 // in position order
	}
	olds := []old{
		{1, 1, "2026-02-28", digest.DeliverySent, []int64{2, 1}},
		{2, 1, "2026-03-01", digest.DeliverySent, []int64{4, 3}},
		{3, 1, "2026-03-02", digest.DeliveryQueued, []int64{5}},
		{4, 2, "2026-03-01", digest.DeliveryFailed, []int64{1, 2, 3, 4}},
		{5, 2, "2026-03-02", digest.DeliveryDeferred, []int64{5, 4}},
		{6, 3, "2026-03-01", digest.DeliverySent, []int64{3}},
		{7, 3, "2026-03-02", digest.DeliverySending, []int64{4, 5}},
		{8, 3, "2026-03-03", digest.DeliverySuppressed, nil},
	}
	for _, d := range olds {
		var sentAt any
		if d.status == digest.DeliverySent {
			sentAt = formatTime(at(7, int(d.id)))
		}
		exec(`INSERT INTO deliveries (id, subscriber_id, digest_date, message_id, status, cutoff, created_at, updated_at, sent_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, d.id, d.sub, string(d.date), "<m"+string(rune('0'+d.id))+"@x>",
			string(d.status), formatTime(at(6, 0)), stamp, stamp, sentAt)
		for pos := len(d.briefs) - 1; pos >= 0; pos-- {
			exec(`INSERT INTO delivery_briefs (delivery_id, position, brief_id) VALUES (?, ?, ?)`, d.id, pos, d.briefs[pos])
		}
	}
	// What the old table answers, asked of it directly.
	sentTo := map[int64]int{}
	rows, err := raw.QueryContext(ctx, `SELECT x.brief_id, COUNT(*) FROM delivery_briefs x
		JOIN deliveries d ON d.id = x.delivery_id WHERE d.status = 'sent' GROUP BY x.brief_id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		sentTo[id] = n
	}
	rows.Close()
	raw.Close()

	db := openAt(t, path)
	db.Now = tickingClock()
	if v := schemaVersionOf(t, db); v < 7 {
		t.Fatalf("schema version %d, want 7 or later", v)
	}

	t.Run("brief ids in planned order", func(t *testing.T) {
		for _, d := range olds {
			got, err := db.Delivery(ctx, d.id)
			if err != nil || !slices.Equal(got.BriefIDs, d.briefs) || got.Status != d.status {
				t.Errorf("delivery %d = %s %v, %v; want %s %v", d.id, got.Status, got.BriefIDs, err, d.status, d.briefs)
			}
		}
		// The view gives back the old table's rows.
		var n int
		if err := db.ro.QueryRowContext(ctx, `SELECT COUNT(*) FROM delivery_briefs WHERE delivery_id = 4 AND position = 3 AND brief_id = 4`).Scan(&n); err != nil || n != 1 {
			t.Errorf("the delivery_briefs view lacks (4, 3, 4): %d, %v", n, err)
		}
	})

	t.Run("briefs not sent", func(t *testing.T) {
		// Reader 1 had 1-4 in sent digests; 5 is only queued.
		if got := notSent(t, db, 1, []string{"lagos"}, at(0, 0), at(23, 0)); !slices.Equal(got, []int64{6, 5}) {
			t.Errorf("not sent to reader 1: %v; want [6 5]", got)
		}
		// Reader 2's only digest with 1-4 failed: all are still due.
		if got := notSent(t, db, 2, []string{"lagos"}, at(0, 0), at(23, 0)); !slices.Equal(got, []int64{6, 5, 4, 3, 2, 1}) {
			t.Errorf("not sent to reader 2: %v; want all six", got)
		}
	})

	t.Run("recent deliveries", func(t *testing.T) {
		ds, err := db.RecentDeliveries(ctx, []int64{1, 3}, "2026-03-02", at(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		got := map[int64][]int64{}
		for _, d := range ds {
			got[d.ID] = d.BriefIDs
		}
		want := map[int64][]int64{1: {2, 1}, 2: {4, 3}, 3: nil, 6: {3}, 7: nil, 8: nil}
		if len(got) != len(want) {
			t.Errorf("RecentDeliveries = %v, want %v", got, want)
		}
		for id, w := range want {
			if g, ok := got[id]; !ok || !slices.Equal(g, w) {
				t.Errorf("RecentDeliveries: delivery %d has %v (listed %v), want %v", id, g, ok, w)
			}
		}
	})

	t.Run("briefs list counts", func(t *testing.T) {
		ls, err := db.ListBriefSummaries(ctx, BriefListFilter{})
		if err != nil || len(ls) != 6 {
			t.Fatalf("ListBriefSummaries = %d, %v; want 6", len(ls), err)
		}
		for _, l := range ls {
			if l.SentTo != sentTo[l.ID] {
				t.Errorf("brief %d sent to %d, the old table says %d", l.ID, l.SentTo, sentTo[l.ID])
			}
		}
		rec, err := db.BriefRecordBySlug(ctx, "b4")
		want := map[digest.DeliveryStatus]int{digest.DeliverySent: 1, digest.DeliveryFailed: 1,
			digest.DeliveryDeferred: 1, digest.DeliverySending: 1}
		if err != nil || len(rec.Deliveries) != len(want) || !rec.FirstSentAt.Equal(at(7, 2)) {
			t.Errorf("record of b4 = %v first sent %v, %v; want %v first sent %v", rec.Deliveries, rec.FirstSentAt, err, want, at(7, 2))
		}
		for s, n := range want {
			if rec.Deliveries[s] != n {
				t.Errorf("b4 in %d %s deliveries, want %d", rec.Deliveries[s], s, n)
			}
		}
	})

	t.Run("remove", func(t *testing.T) {
		// 5 is in queued 3 (alone) and deferred 5 (with 4), and in delivery
		// 7, being sent: it is taken out of 3 and 5, and stays, marked.
		r, err := db.RemoveBrief(ctx, "b5")
		if err != nil || r.Deleted || r.Unplanned != 2 || r.Suppressed != 1 || r.Carried != 1 {
			t.Fatalf("RemoveBrief(b5) = %+v, %v; want marked, out of 2, 1 suppressed, carried by 1", r, err)
		}
		for id, want := range map[int64]struct {
			status digest.DeliveryStatus
			briefs []int64
		}{3: {digest.DeliverySuppressed, []int64{}}, 5: {digest.DeliveryDeferred, []int64{4}}, 7: {digest.DeliverySending, []int64{4, 5}}} {
			d, err := db.Delivery(ctx, id)
			if err != nil || d.Status != want.status || !slices.Equal(d.BriefIDs, want.briefs) {
				t.Errorf("delivery %d after removing b5 = %s %v, %v; want %s %v", id, d.Status, d.BriefIDs, err, want.status, want.briefs)
			}
		}
		// 6 was carried by nothing: deleted.
		if r, err := db.RemoveBrief(ctx, "b6"); err != nil || !r.Deleted {
			t.Errorf("RemoveBrief(b6) = %+v, %v; want deleted", r, err)
		}
	})
}

// TestPlanRefusesMissingBrief: brief_ids has no foreign key, so a plan
// naming a brief that is gone (removed between deciding and storing) must
// be refused by the store, naming the brief, with nothing written.
func TestPlanRefusesMissingBrief(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	b := mustUpsertBrief(t, db, sampleBrief("kept", "lagos", at(5, 0)))
	r1 := mustCreateSubscriber(t, db, sampleSubscriber("a@example.com", "lagos"))
	r2 := mustCreateSubscriber(t, db, sampleSubscriber("b@example.com", "lagos"))
	ds := []digest.Delivery{
		sampleDelivery(r1.ID, "2026-03-01", at(6, 0), b.ID),
		sampleDelivery(r2.ID, "2026-03-01", at(6, 0), b.ID, b.ID+100),
	}
	_, err := db.PlanDeliveries(ctx, []*digest.Delivery{&ds[0], &ds[1]})
	if !errors.Is(err, digest.ErrNotFound) {
		t.Fatalf("PlanDeliveries with a missing brief: %v, want ErrNotFound", err)
	}
	if want := fmt.Sprintf("brief %d", b.ID+100); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %q", err, want)
	}
	if got, _ := db.ListDeliveries(ctx, DeliveryFilter{}); len(got) != 0 {
		t.Errorf("%d deliveries stored by a refused page, want 0", len(got))
	}
}
