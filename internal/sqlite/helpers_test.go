package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
)

// epoch is the fixed start of the test clock.
var epoch = time.Date(2026, 3, 1, 6, 0, 0, 123456789, time.UTC)

// tickingClock returns a clock that starts at epoch and moves one second
// forward on every call, so that each write gets a distinct, predictable
// time. It is safe for concurrent use.
func tickingClock() func() time.Time {
	var n atomic.Int64
	return func() time.Time { return epoch.Add(time.Duration(n.Add(1)-1) * time.Second) }
}

// openTest opens a fresh database under t.TempDir with a ticking clock.
func openTest(t testing.TB) *DB {
	t.Helper()
	db := openAt(t, filepath.Join(t.TempDir(), "digest.db"))
	db.Now = tickingClock()
	return db
}

// openAt opens the database at path and closes it when the test ends.
func openAt(t testing.TB, path string) *DB {
	t.Helper()
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// at returns an instant on 2026-03-01 UTC at the given hour and minute.
func at(hour, minute int) time.Time {
	return time.Date(2026, 3, 1, hour, minute, 0, 0, time.UTC)
}

// sampleBrief returns a brief with every field set.
func sampleBrief(slug, region string, published time.Time) digest.Brief {
	return digest.Brief{
		Slug:        slug,
		Region:      region,
		Headline:    "Headline of " + slug,
		Lede:        "A lede with “quotes” and ünïcode.",
		Body:        "The *news*.\n\nSecond paragraph.",
		Author:      "Ada Reporter",
		PublishedAt: published,
		Signals: []digest.Signal{
			{Title: "First signal", Body: "Why it matters.", Sources: []digest.Source{
				{Name: "Reuters", URL: "https://reuters.example/a"},
				{Name: "Interview", URL: ""},
				{Name: "AP", URL: "https://ap.example/b"},
			}},
			{Title: "Second signal", Body: "No sources here."},
			{Title: "Third signal", Body: "", Sources: []digest.Source{{Name: "BBC", URL: "https://bbc.example/c"}}},
		},
		Image: &digest.Image{URL: "https://img.example/1.jpg", Alt: "A harbour", Caption: "The harbour at dawn", Credit: "Photo: Jo"},
	}
}

func mustUpsertBrief(t testing.TB, db *DB, b digest.Brief) digest.Brief {
	t.Helper()
	if _, err := db.UpsertBrief(context.Background(), &b); err != nil {
		t.Fatalf("UpsertBrief(%q): %v", b.Slug, err)
	}
	return b
}

func sampleSubscriber(email string, regions ...string) digest.Subscriber {
	return digest.Subscriber{
		Email:    email,
		Name:     "Reader " + email,
		Regions:  regions,
		TimeZone: "Africa/Lagos",
		SendTime: digest.TimeOfDay{Hour: 7, Minute: 30},
		Status:   digest.StatusActive,
	}
}

func mustCreateSubscriber(t testing.TB, db *DB, s digest.Subscriber) digest.Subscriber {
	t.Helper()
	if err := db.CreateSubscriber(context.Background(), &s); err != nil {
		t.Fatalf("CreateSubscriber(%q): %v", s.Email, err)
	}
	return s
}

func sampleDelivery(subscriberID int64, date digest.Date, cutoff time.Time, briefIDs ...int64) digest.Delivery {
	return digest.Delivery{
		SubscriberID: subscriberID,
		DigestDate:   date,
		BriefIDs:     briefIDs,
		MessageID:    fmt.Sprintf("<%d.%s@digest.example>", subscriberID, date),
		Status:       digest.DeliveryQueued,
		Cutoff:       cutoff,
	}
}

// mustCreateDelivery stores d as a new queued delivery, as a pass plans
// one, and returns it with its ID and times set.
func mustCreateDelivery(t testing.TB, db *DB, d digest.Delivery) digest.Delivery {
	t.Helper()
	if n, err := db.PlanDeliveries(context.Background(), []*digest.Delivery{&d}); err != nil || n != 1 {
		t.Fatalf("PlanDeliveries(subscriber %d, %s) = %d, %v; want it created", d.SubscriberID, d.DigestDate, n, err)
	}
	return d
}

// deliveryFor returns the subscriber's delivery for date, or
// digest.ErrNotFound.
func deliveryFor(ctx context.Context, db *DB, subscriberID int64, date digest.Date) (digest.Delivery, error) {
	ds, err := db.ListDeliveries(ctx, DeliveryFilter{SubscriberID: subscriberID, Date: date})
	switch {
	case err != nil:
		return digest.Delivery{}, err
	case len(ds) == 0:
		return digest.Delivery{}, digest.ErrNotFound
	}
	return ds[0], nil
}

// countDeliveries counts the deliveries of date ("" for every date) by
// status, as Status does for its dates.
func countDeliveries(t testing.TB, db *DB, date digest.Date) map[digest.DeliveryStatus]int {
	t.Helper()
	var counts map[digest.DeliveryStatus]int
	ctx := context.Background()
	if err := db.read(ctx, func(tx *sql.Tx) error {
		var err error
		counts, err = countStatuses(ctx, tx, date)
		return err
	}); err != nil {
		t.Fatalf("count deliveries of %q: %v", date, err)
	}
	return counts
}

// schemaVersionOf returns the number of the last migration applied.
func schemaVersionOf(t testing.TB, db *DB) int {
	t.Helper()
	var v int
	ctx := context.Background()
	if err := db.read(ctx, func(tx *sql.Tx) error {
		var err error
		v, err = schemaVersion(ctx, tx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

// briefBySlug returns the brief with the given slug, or digest.ErrNotFound.
func briefBySlug(ctx context.Context, db *DB, slug string) (digest.Brief, error) {
	rec, err := db.BriefRecordBySlug(ctx, slug)
	return rec.Brief, err
}

// activeSubscribers returns the subscribers who get digests, by id.
func activeSubscribers(ctx context.Context, db *DB) ([]digest.Subscriber, error) {
	return db.ListSubscribers(ctx, SubscriberFilter{Status: digest.StatusActive})
}

// wantFieldError fails unless err is a *digest.FieldError on field.
func wantFieldError(t *testing.T, err error, field string) {
	t.Helper()
	var fe *digest.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error = %v, want a *digest.FieldError on %q", err, field)
	}
	if fe.Field != field {
		t.Fatalf("error = %v (field %q), want field %q", err, fe.Field, field)
	}
}

// briefIDs returns the ids of bs, in order.
func briefIDs(bs []digest.Brief) []int64 {
	ids := make([]int64, len(bs))
	for i, b := range bs {
		ids[i] = b.ID
	}
	return ids
}

// notSent returns the ids of the briefs of regions published in (after,
// upTo] that subscriber sub has not had, as a pass chooses them: the
// store's brief heads and the reader's recent deliveries, through
// digest.Selection (after stands for the reader's watermark, with no
// grace). It checks that the store fetches what the rule needs.
func notSent(t testing.TB, db *DB, sub int64, regions []string, after, upTo time.Time) []int64 {
	t.Helper()
	ctx := context.Background()
	known := make(digest.Regions, len(regions))
	for i, code := range regions {
		known[i] = digest.Region{Code: code}
	}
	c := digest.NewCandidates(known, upTo)
	if err := c.Cover(after, func(from, to time.Time) ([]digest.BriefHead, error) {
		return db.BriefHeads(ctx, from, to)
	}); err != nil {
		t.Fatal(err)
	}
	history, err := db.RecentDeliveries(ctx, []int64{sub}, digest.DateOf(upTo), after)
	if err != nil {
		t.Fatal(err)
	}
	reader := &digest.Subscriber{ID: sub, Regions: regions, Watermark: after}
	return digest.Selection{}.Select(nil, c, reader, history, upTo)
}
