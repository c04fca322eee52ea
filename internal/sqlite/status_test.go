package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
)

func TestStatus(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

	mustUpsertBrief(t, db, sampleBrief("old", "lagos", now.Add(-25*time.Hour)))
	recent := mustUpsertBrief(t, db, sampleBrief("l1", "lagos", now.Add(-time.Hour)))
	mustUpsertBrief(t, db, sampleBrief("l2", "lagos", now.Add(-2*time.Hour)))
	mustUpsertBrief(t, db, sampleBrief("b1", "bxl", now.Add(-3*time.Hour)))
	mustUpsertBrief(t, db, sampleBrief("future", "bxl", now.Add(time.Hour)))

	subs := map[string]digest.Subscriber{}
	for _, s := range []struct {
		email   string
		status  digest.SubscriberStatus
		regions []string
	}{
		{"a@x.org", digest.StatusActive, []string{"lagos", "bxl"}},
		{"b@x.org", digest.StatusActive, []string{"lagos"}},
		{"c@x.org", digest.StatusPending, []string{"bxl"}},
		{"d@x.org", digest.StatusUnsubscribed, []string{"bxl"}},
	} {
		sub := sampleSubscriber(s.email, s.regions...)
		sub.Status = s.status
		subs[s.email] = mustCreateSubscriber(t, db, sub)
	}
	for _, d := range []struct {
		email string
		date  digest.Date
		sent  bool
	}{
		{"a@x.org", "2026-11-24", true},
		{"a@x.org", "2026-11-25", true},
		{"b@x.org", "2026-11-25", false},
		{"a@x.org", "2026-11-26", false},
		{"b@x.org", "2026-11-26", false},
		{"b@x.org", "2026-12-30", false}, // a date no zone has reached: ignored
	} {
		dl := sampleDelivery(subs[d.email].ID, d.date, now.Add(-time.Hour), recent.ID)
		dl.DueAt = now.Add(-2 * time.Hour)
		if d.date == "2026-11-25" {
			dl.DueAt = now.Add(-26 * time.Hour)
		}
		dl = mustCreateDelivery(t, db, dl)
		if d.sent {
			if err := db.MarkDeliverySent(ctx, dl.ID, now.Add(-time.Hour), "250 ok"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := db.AcquireLease(ctx, "sender", "host:42", now, time.Minute); err != nil {
		t.Fatal(err)
	}

	st, err := db.Status(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what      string
		got, want any
	}{
		{"schema version", st.SchemaVersion, len(mustMigrations(t))},
		{"sqlite version set", st.SQLiteVersion != "", true},
		{"file size positive", st.FileSize > 0, true},
		{"active", st.Subscribers[digest.StatusActive], 2},
		{"pending", st.Subscribers[digest.StatusPending], 1},
		{"unsubscribed", st.Subscribers[digest.StatusUnsubscribed], 1},
		{"active in lagos", st.ActiveByRegion["lagos"], 2},
		{"active in bxl", st.ActiveByRegion["bxl"], 1},
		{"recent lagos briefs", st.RecentBriefs["lagos"], 2},
		{"recent bxl briefs", st.RecentBriefs["bxl"], 1},
		{"dates", fmt.Sprint(st.Dates), "[{2026-11-26 map[queued:2]} {2026-11-25 map[queued:1 sent:1]}]"},
		{"queued", st.Queued, 4},
		{"deferred", st.Deferred, 0},
		{"oldest queued due", st.OldestQueuedDue, now.Add(-26 * time.Hour)},
		{"leases", fmt.Sprint(st.Leases), fmt.Sprint([]digest.Lease{{Name: "sender", Holder: "host:42", ExpiresAt: now.Add(time.Minute)}})},
	}
	for _, c := range checks {
		if c.got != c.want {
			if tg, ok := c.got.(time.Time); ok && tg.Equal(c.want.(time.Time)) {
				continue
			}
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
}

func mustMigrations(t *testing.T) []migration {
	t.Helper()
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// SendSlots groups the active readers by zone and send time, whatever the
// zone's name says: deciding who is due is not the store's.
func TestSendSlots(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	for i, s := range []struct {
		zone, send string
		status     digest.SubscriberStatus
	}{
		{"Africa/Lagos", "07:00", digest.StatusActive},
		{"Africa/Lagos", "07:00", digest.StatusActive}, // the same slot
		{"Africa/Lagos", "06:00", digest.StatusActive},
		{"America/New_York", "02:30", digest.StatusActive},
		{"UTC", "08:00", digest.StatusPending},         // not active: not counted
		{"Mars/Olympus", "08:00", digest.StatusActive}, // unusable zone: counted all the same
	} {
		sub := sampleSubscriber(fmt.Sprintf("r%d@x.org", i), "lagos")
		sub.TimeZone, sub.Status = s.zone, s.status
		sub.SendTime, _ = digest.ParseTimeOfDay(s.send)
		mustCreateSubscriberRaw(t, db, sub)
	}
	slots, err := db.SendSlots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(slots, func(a, b digest.SendSlot) int {
		return strings.Compare(a.TimeZone+" "+a.SendTime.String(), b.TimeZone+" "+b.SendTime.String())
	})
	want := []digest.SendSlot{
		{TimeZone: "Africa/Lagos", SendTime: digest.TimeOfDay{Hour: 6}, Readers: 1},
		{TimeZone: "Africa/Lagos", SendTime: digest.TimeOfDay{Hour: 7}, Readers: 2},
		{TimeZone: "America/New_York", SendTime: digest.TimeOfDay{Hour: 2, Minute: 30}, Readers: 1},
		{TimeZone: "Mars/Olympus", SendTime: digest.TimeOfDay{Hour: 8}, Readers: 1},
	}
	if !slices.Equal(slots, want) {
		t.Errorf("SendSlots = %+v\nwant        %+v", slots, want)
	}
}

// mustCreateSubscriberRaw stores s without the store's validation, for
// rows a bug or an older version could have left (an unknown zone).
func mustCreateSubscriberRaw(t testing.TB, db *DB, s digest.Subscriber) {
	t.Helper()
	err := db.write(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.Exec(`INSERT INTO subscribers (email, email_key, time_zone, send_time, status, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, s.Email, s.Email, s.TimeZone, s.SendTime.String(), string(s.Status),
			formatTime(epoch), formatTime(epoch))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// BenchmarkStatus measures Status and SendSlots on 100,000 readers spread
// over many zones and send times: an operator's first command must answer
// in well under a second.
func BenchmarkStatus(b *testing.B) {
	ctx := context.Background()
	db := openTest(b)
	zones := []string{"Africa/Lagos", "Europe/Brussels", "America/New_York", "Asia/Shanghai", "Asia/Riyadh",
		"Asia/Singapore", "America/Los_Angeles", "Australia/Sydney", "Asia/Kolkata", "UTC"}
	regions := []string{"lagos", "bxl", "dc", "beijing", "riyadh", "sg"}
	statuses := []digest.SubscriberStatus{digest.StatusActive, digest.StatusActive, digest.StatusActive, digest.StatusPending, digest.StatusUnsubscribed}
	const n = 100_000
	err := db.write(ctx, func(tx *sql.Tx) error {
		sub, err := tx.Prepare(`INSERT INTO subscribers (id, email, email_key, time_zone, send_time, status, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		reg, err := tx.Prepare(`INSERT INTO subscriber_regions (subscriber_id, position, region) VALUES (?, ?, ?)`)
		if err != nil {
			return err
		}
		for i := 1; i <= n; i++ {
			email := fmt.Sprintf("r%d@example.org", i)
			send := digest.TimeOfDay{Hour: 5 + i%4, Minute: (i * 7) % 60}.String()
			if _, err := sub.Exec(i, email, email, zones[i%len(zones)], send, string(statuses[i%len(statuses)]),
				formatTime(epoch), formatTime(epoch)); err != nil {
				return err
			}
			for p := 0; p < 1+i%2; p++ {
				if _, err := reg.Exec(i, p, regions[(i+p)%len(regions)]); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	now := epoch
	b.ResetTimer()
	for b.Loop() {
		if _, err := db.Status(ctx, now); err != nil {
			b.Fatal(err)
		}
		if _, err := db.SendSlots(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// TestQueueDepth counts what a sender still has to do: queued and deferred
// deliveries, not the ones sent, failed or being sent.
func TestQueueDepth(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	b := mustUpsertBrief(t, db, sampleBrief("l1", "lagos", now.Add(-time.Hour)))
	var ids []int64
	for i := range 6 {
		sub := mustCreateSubscriber(t, db, sampleSubscriber(fmt.Sprintf("r%d@x.org", i), "lagos"))
		d := sampleDelivery(sub.ID, "2026-11-26", now.Add(-time.Hour), b.ID)
		d.DueAt = now.Add(-time.Duration(i) * time.Minute)
		ids = append(ids, mustCreateDelivery(t, db, d).ID)
	}
	check := func(want int) {
		t.Helper()
		if got, err := db.QueueDepth(ctx); err != nil || got != want {
			t.Errorf("QueueDepth = %d, %v; want %d", got, err, want)
		}
	}
	check(6)
	if err := db.MarkDeliverySent(ctx, ids[0], now, "250 ok"); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkDeliveryFailed(ctx, ids[1], "550 no", true); err != nil {
		t.Fatal(err)
	}
	// Two claimed: one is deferred, the other stays sending.
	deferred, err := db.ClaimDelivery(ctx, now, "host:1/w0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ClaimDelivery(ctx, now, "host:1/w0"); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkDeliveryDeferred(ctx, deferred.ID, now.Add(time.Hour), "451 later"); err != nil {
		t.Fatal(err)
	}
	// Left: two queued and one deferred.
	check(3)
}
