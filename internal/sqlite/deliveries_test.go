package sqlite

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
)

// deliveryFixture is a database with one subscriber and three briefs.
type deliveryFixture struct {
	db     *DB
	sub    digest.Subscriber
	briefs []int64
}

func newDeliveryFixture(t *testing.T) deliveryFixture {
	t.Helper()
	db := openTest(t)
	f := deliveryFixture{db: db, sub: mustCreateSubscriber(t, db, sampleSubscriber("reader@example.com", "lagos"))}
	for i, slug := range []string{"one", "two", "three"} {
		f.briefs = append(f.briefs, mustUpsertBrief(t, db, sampleBrief(slug, "lagos", at(6, i))).ID)
	}
	return f
}

func TestPlannedDeliveryRoundTrip(t *testing.T) {
	ctx := context.Background()
	f := newDeliveryFixture(t)
	plan := []int64{f.briefs[2], f.briefs[0], f.briefs[1]}
	d := sampleDelivery(f.sub.ID, "2026-03-01", at(6, 59).Add(17), plan...)
	d.Status = "" // defaults to queued
	if n, err := f.db.PlanDeliveries(ctx, []*digest.Delivery{&d}); err != nil || n != 1 {
		t.Fatalf("PlanDeliveries = %d, %v; want it created", n, err)
	}
	if d.ID == 0 || d.Status != digest.DeliveryQueued || d.CreatedAt.IsZero() || !d.UpdatedAt.Equal(d.CreatedAt) {
		t.Fatalf("after planning: %+v", d)
	}

	byID, err := f.db.Delivery(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(byID, d) {
		t.Errorf("Delivery round trip\n got: %+v\nwant: %+v", byID, d)
	}
	forDay, err := f.db.ListDeliveries(ctx, DeliveryFilter{SubscriberID: f.sub.ID, Date: "2026-03-01"})
	if err != nil {
		t.Fatal(err)
	}
	if len(forDay) != 1 || !reflect.DeepEqual(forDay[0], d) {
		t.Errorf("ListDeliveries of the reader's day\n got: %+v\nwant: [%+v]", forDay, d)
	}
	if ds, err := f.db.ListDeliveries(ctx, DeliveryFilter{SubscriberID: f.sub.ID, Date: "2026-03-02"}); err != nil || len(ds) != 0 {
		t.Errorf("ListDeliveries of another day = %+v, %v; want none", ds, err)
	}
	if _, err := f.db.Delivery(ctx, d.ID+1); !errors.Is(err, digest.ErrNotFound) {
		t.Errorf("Delivery of a missing id: err = %v, want ErrNotFound", err)
	}
}

func TestPlanDeliveriesRefuses(t *testing.T) {
	f := newDeliveryFixture(t)
	tests := []struct {
		name    string
		modify  func(*digest.Delivery)
		field   string // a *digest.FieldError on this field, or
		wantErr error  // this error, or (both empty) any error
	}{
		{"unknown subscriber", func(d *digest.Delivery) { d.SubscriberID = 999 }, "", nil},
		{"unknown brief", func(d *digest.Delivery) { d.BriefIDs = []int64{f.briefs[0], 999} }, "", digest.ErrNotFound},
		{"no subscriber", func(d *digest.Delivery) { d.SubscriberID = 0 }, "subscriber_id", nil},
		{"bad date", func(d *digest.Delivery) { d.DigestDate = "2026-02-30" }, "digest_date", nil},
		{"date with time", func(d *digest.Delivery) { d.DigestDate = "2026-03-01T00:00" }, "digest_date", nil},
		{"no Message-ID", func(d *digest.Delivery) { d.MessageID = "" }, "message_id", nil},
		{"created as sent", func(d *digest.Delivery) { d.Status = digest.DeliverySent }, "status", nil},
		{"no cutoff", func(d *digest.Delivery) { d.Cutoff = time.Time{} }, "cutoff", nil},
		{"brief twice", func(d *digest.Delivery) { d.BriefIDs = []int64{f.briefs[0], f.briefs[0]} }, "brief_ids", nil},
		{"brief twice in a long list", func(d *digest.Delivery) {
			d.BriefIDs = nil
			for i := range 100 {
				d.BriefIDs = append(d.BriefIDs, int64(1000+i))
			}
			d.BriefIDs = append(d.BriefIDs, 1050)
		}, "brief_ids", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			d := sampleDelivery(f.sub.ID, "2026-03-01", at(7, 0), f.briefs...)
			tc.modify(&d)
			_, err := f.db.PlanDeliveries(ctx, []*digest.Delivery{&d})
			switch {
			case tc.field != "":
				wantFieldError(t, err, tc.field)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			case err == nil:
				t.Fatal("planned a delivery that cannot be stored")
			}
			if all, _ := f.db.ListDeliveries(ctx, DeliveryFilter{}); len(all) != 0 {
				t.Errorf("a refused delivery was stored: %+v", all)
			}
		})
	}
}

// A reader's watermark follows their sent digests' cut-offs at the next
// catch-up, never back.
func TestCatchUpMovesWatermarkForwardOnly(t *testing.T) {
	tests := []struct {
		name          string
		watermark     time.Time // the subscriber's before the send
		cutoff        time.Time
		wantWatermark time.Time
	}{
		{"first digest", time.Time{}, at(7, 0), at(7, 0)},
		{"later cutoff moves it", at(6, 0), at(7, 0).Add(1), at(7, 0).Add(1)},
		{"earlier cutoff leaves it", at(8, 0), at(7, 0), at(8, 0)},
		{"equal cutoff leaves it", at(7, 0), at(7, 0), at(7, 0)},
		{"one nanosecond later moves it", at(7, 0), at(7, 0).Add(1), at(7, 0).Add(1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := openTest(t)
			s := sampleSubscriber("reader@example.com", "lagos")
			s.Watermark = tc.watermark
			s = mustCreateSubscriber(t, db, s)
			d := mustCreateDelivery(t, db, sampleDelivery(s.ID, "2026-03-01", tc.cutoff))

			sentAt := at(7, 30).Add(5)
			if err := db.MarkDeliverySent(ctx, d.ID, sentAt, "250 ok"); err != nil {
				t.Fatalf("MarkDeliverySent: %v", err)
			}
			if _, err := db.CatchUpWatermarks(ctx); err != nil {
				t.Fatal(err)
			}
			got, err := db.Delivery(ctx, d.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != digest.DeliverySent || !got.SentAt.Equal(sentAt) || got.Error != "" {
				t.Errorf("delivery after MarkDeliverySent: %+v", got)
			}
			sub, err := db.Subscriber(ctx, s.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !sub.Watermark.Equal(tc.wantWatermark) {
				t.Errorf("watermark = %v, want %v", sub.Watermark, tc.wantWatermark)
			}
		})
	}
}

// A catch-up that fails moves no watermark and leaves its events for the
// next one.
func TestCatchUpWatermarksIsAtomic(t *testing.T) {
	ctx := context.Background()
	f := newDeliveryFixture(t)
	d := mustCreateDelivery(t, f.db, sampleDelivery(f.sub.ID, "2026-03-01", at(7, 0), f.briefs[0]))
	if err := f.db.MarkDeliverySent(ctx, d.ID, at(7, 30), "250 ok"); err != nil {
		t.Fatal(err)
	}

	if _, err := f.db.rw.ExecContext(ctx, `
		CREATE TRIGGER refuse_watermark BEFORE UPDATE OF watermark ON subscribers
		BEGIN SELECT RAISE(ABORT, 'watermark refused by test'); END`); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.CatchUpWatermarks(ctx); err == nil {
		t.Fatal("CatchUpWatermarks succeeded although the watermark update failed")
	}
	if sub, _ := f.db.Subscriber(ctx, f.sub.ID); !sub.Watermark.IsZero() {
		t.Errorf("watermark = %v after a failed catch-up, want none", sub.Watermark)
	}
	if _, err := f.db.rw.ExecContext(ctx, `DROP TRIGGER refuse_watermark`); err != nil {
		t.Fatal(err)
	}
	if moved, err := f.db.CatchUpWatermarks(ctx); err != nil || moved != 1 {
		t.Fatalf("CatchUpWatermarks once the trigger is gone = %d, %v; want 1", moved, err)
	}
	if sub, _ := f.db.Subscriber(ctx, f.sub.ID); !sub.Watermark.Equal(at(7, 0)) {
		t.Errorf("watermark = %v, want the cut-off %v", sub.Watermark, at(7, 0))
	}
}

func TestDeliveryLifecycle(t *testing.T) {
	ctx := context.Background()
	f := newDeliveryFixture(t)
	d := mustCreateDelivery(t, f.db, sampleDelivery(f.sub.ID, "2026-03-01", at(7, 0), f.briefs[0]))

	claim := func(now time.Time) digest.Delivery {
		t.Helper()
		c, err := f.db.ClaimDelivery(ctx, now, "host:1")
		if err != nil {
			t.Fatalf("ClaimDelivery at %v: %v", now, err)
		}
		return c
	}
	c := claim(at(7, 0))
	if c.ID != d.ID || c.Status != digest.DeliverySending || c.Attempts != 1 || c.MessageID != d.MessageID ||
		!slices.Equal(c.BriefIDs, d.BriefIDs) {
		t.Fatalf("claimed %+v", c)
	}
	if _, err := f.db.ClaimDelivery(ctx, at(7, 0), "host:1"); !errors.Is(err, digest.ErrNotFound) {
		t.Errorf("second claim with nothing queued: err = %v, want ErrNotFound", err)
	}

	// Refused for now: deferred until 07:10, not claimable before.
	if err := f.db.MarkDeliveryDeferred(ctx, d.ID, at(7, 10), "421 4.4.2 closing"); err != nil {
		t.Fatalf("MarkDeliveryDeferred: %v", err)
	}
	deferred, err := f.db.Delivery(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if deferred.Status != digest.DeliveryDeferred || deferred.Attempts != 1 || deferred.Error != "421 4.4.2 closing" ||
		!deferred.NextAttemptAt.Equal(at(7, 10)) {
		t.Errorf("after MarkDeliveryDeferred: %+v", deferred)
	}
	if sub, _ := f.db.Subscriber(ctx, f.sub.ID); !sub.Watermark.IsZero() {
		t.Errorf("a deferral moved the watermark to %v", sub.Watermark)
	}
	if _, err := f.db.ClaimDelivery(ctx, at(7, 9), "host:1"); !errors.Is(err, digest.ErrNotFound) {
		t.Errorf("claim before the next attempt is due: err = %v, want ErrNotFound", err)
	}
	if c := claim(at(7, 10)); c.Attempts != 2 || !c.NextAttemptAt.IsZero() {
		t.Errorf("second claim: %+v", c)
	}

	if err := f.db.MarkDeliverySent(ctx, d.ID, at(7, 11), "250 2.0.0 queued as X"); err != nil {
		t.Fatalf("MarkDeliverySent: %v", err)
	}
	sent, err := f.db.Delivery(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if sent.Status != digest.DeliverySent || sent.Attempts != 2 || sent.Error != "" || !sent.SentAt.Equal(at(7, 11)) {
		t.Errorf("after MarkDeliverySent: %+v", sent)
	}
	if _, err := f.db.CatchUpWatermarks(ctx); err != nil {
		t.Fatal(err)
	}
	if sub, _ := f.db.Subscriber(ctx, f.sub.ID); !sub.Watermark.Equal(at(7, 0)) {
		t.Errorf("watermark = %v, want the cutoff %v", sub.Watermark, at(7, 0))
	}

	// Every transition is on file, with its reason.
	evs, err := f.db.DeliveryEvents(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	var trail []string
	for _, e := range evs {
		trail = append(trail, fmt.Sprintf("%s>%s %s", e.From, e.To, e.Reason))
	}
	want := []string{">queued planned", "queued>sending claimed by host:1", "sending>deferred 421 4.4.2 closing",
		"deferred>sending claimed by host:1", "sending>sent 250 2.0.0 queued as X"}
	if !slices.Equal(trail, want) {
		t.Errorf("events:\n got %q\nwant %q", trail, want)
	}

	// Once sent, nothing about the delivery can change.
	for name, call := range map[string]func() error{
		"MarkDeliverySent":       func() error { return f.db.MarkDeliverySent(ctx, d.ID, at(10, 0), "250 ok") },
		"MarkDeliveryFailed":     func() error { return f.db.MarkDeliveryFailed(ctx, d.ID, "late", false) },
		"MarkDeliveryDeferred":   func() error { return f.db.MarkDeliveryDeferred(ctx, d.ID, at(11, 0), "late") },
		"MarkDeliverySuppressed": func() error { return f.db.MarkDeliverySuppressed(ctx, d.ID, "late") },
	} {
		if err := call(); !errors.Is(err, errAlreadySent) {
			t.Errorf("%s on a sent delivery: err = %v, want errAlreadySent", name, err)
		}
	}
	final, err := f.db.Delivery(ctx, d.ID)
	if err != nil || !reflect.DeepEqual(final, sent) {
		t.Errorf("a sent delivery changed: %+v, %v", final, err)
	}
	if n, err := f.db.RequeueDeliveries(ctx, RetryFilter{IDs: []int64{d.ID}}); err != nil || n != 0 {
		t.Errorf("re-queue of a sent delivery: %d, %v; want 0", n, err)
	}
}

func TestFailureBouncesOnlyWhenAsked(t *testing.T) {
	ctx := context.Background()
	f := newDeliveryFixture(t)
	other := mustCreateSubscriber(t, f.db, sampleSubscriber("other@example.com", "lagos"))
	a := mustCreateDelivery(t, f.db, sampleDelivery(f.sub.ID, "2026-03-01", at(7, 0), f.briefs[0]))
	b := mustCreateDelivery(t, f.db, sampleDelivery(other.ID, "2026-03-01", at(7, 0), f.briefs[0]))
	if err := f.db.MarkDeliveryFailed(ctx, a.ID, "550 5.1.1 no such user", true); err != nil {
		t.Fatal(err)
	}
	if err := f.db.MarkDeliveryFailed(ctx, b.ID, "554 5.7.1 relay denied", false); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id   int64
		want digest.SubscriberStatus
	}{{f.sub.ID, digest.StatusBounced}, {other.ID, digest.StatusActive}} {
		s, err := f.db.Subscriber(ctx, c.id)
		if err != nil || s.Status != c.want {
			t.Errorf("subscriber %d: %s, %v; want %s", c.id, s.Status, err, c.want)
		}
	}
	// An operator re-queues the sender-side failure; same Message-ID.
	n, err := f.db.RequeueDeliveries(ctx, RetryFilter{Status: digest.DeliveryFailed, Date: "2026-03-01"})
	if err != nil || n != 2 {
		t.Fatalf("RequeueDeliveries = %d, %v; want 2", n, err)
	}
	got, _ := f.db.Delivery(ctx, b.ID)
	if got.Status != digest.DeliveryQueued || got.MessageID != b.MessageID {
		t.Errorf("re-queued: %+v", got)
	}
}

func TestRecoverAndExpire(t *testing.T) {
	ctx := context.Background()
	f := newDeliveryFixture(t)
	other := mustCreateSubscriber(t, f.db, sampleSubscriber("other@example.com", "lagos"))
	third := mustCreateSubscriber(t, f.db, sampleSubscriber("third@example.com", "lagos"))
	inFlight := sampleDelivery(f.sub.ID, "2026-03-01", at(7, 0), f.briefs[0])
	inFlight.DueAt = at(6, 0)
	late := sampleDelivery(other.ID, "2026-03-01", at(7, 0), f.briefs[0])
	late.DueAt = at(1, 0)
	onTime := sampleDelivery(third.ID, "2026-03-01", at(7, 0), f.briefs[0])
	onTime.DueAt = at(6, 30)
	created, err := f.db.PlanDeliveries(ctx, []*digest.Delivery{&inFlight, &late, &onTime})
	if err != nil || created != 3 {
		t.Fatalf("PlanDeliveries = %d, %v", created, err)
	}
	// The due-first order: late (01:00), in-flight (06:00), on time (06:30).
	c, err := f.db.ClaimDelivery(ctx, at(7, 0), "crashed:1")
	if err != nil || c.ID != late.ID {
		t.Fatalf("first claim = %d (%v), want the earliest due %d", c.ID, err, late.ID)
	}
	// Planning the same day again creates nothing.
	again := sampleDelivery(f.sub.ID, "2026-03-01", at(8, 0), f.briefs[1])
	again.MessageID = "<again@digest.example>"
	if n, err := f.db.PlanDeliveries(ctx, []*digest.Delivery{&again}); err != nil || n != 0 || again.ID != 0 {
		t.Errorf("re-planning a planned day: %d, %v, id %d", n, err, again.ID)
	}

	n, err := f.db.RecoverSending(ctx)
	if err != nil || n != 1 {
		t.Fatalf("RecoverSending = %d, %v; want 1", n, err)
	}
	if got, _ := f.db.Delivery(ctx, late.ID); got.Status != digest.DeliveryQueued || got.MessageID != late.MessageID || got.Attempts != 1 {
		t.Errorf("recovered delivery: %+v", got)
	}
	n, err = f.db.ExpireLate(ctx, at(7, 30), 6*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("ExpireLate = %d, %v; want 1", n, err)
	}
	if counts := countDeliveries(t, f.db, "2026-03-01"); counts[digest.DeliveryExpired] != 1 || counts[digest.DeliveryQueued] != 2 {
		t.Errorf("counts %v, want 1 expired and 2 queued", counts)
	}
}

func TestLease(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	if _, err := db.AcquireLease(ctx, "sender", "a:1", at(7, 0), time.Minute); err != nil {
		t.Fatal(err)
	}
	_, err := db.AcquireLease(ctx, "sender", "b:2", at(7, 0).Add(30*time.Second), time.Minute)
	var held *digest.LeaseHeldError
	if !errors.As(err, &held) || held.Lease.Holder != "a:1" || !held.Lease.ExpiresAt.Equal(at(7, 1)) {
		t.Fatalf("second holder: err = %v, want LeaseHeldError naming a:1 until 07:01", err)
	}
	if _, err := db.AcquireLease(ctx, "sender", "a:1", at(7, 0).Add(50*time.Second), time.Minute); err != nil {
		t.Errorf("renewal by the holder: %v", err)
	}
	if _, err := db.AcquireLease(ctx, "sender", "b:2", at(7, 1).Add(time.Second), time.Minute); !errors.As(err, &held) {
		t.Errorf("the renewal did not extend the lease: %v", err)
	}
	if _, err := db.AcquireLease(ctx, "sender", "b:2", at(7, 2), time.Minute); err != nil {
		t.Errorf("taking an expired lease: %v", err)
	}
	if err := db.ReleaseLease(ctx, "sender", "a:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AcquireLease(ctx, "sender", "a:1", at(7, 2), time.Minute); !errors.As(err, &held) {
		t.Errorf("a release by a former holder freed b's lease: %v", err)
	}
	// b dies; c, knowing it, takes over; a second taker loses.
	if _, err := db.TakeOverLease(ctx, "sender", "b:2", "c:3", at(7, 2), time.Minute); err != nil {
		t.Fatalf("take over from a dead holder: %v", err)
	}
	if _, err := db.TakeOverLease(ctx, "sender", "b:2", "d:4", at(7, 2), time.Minute); !errors.As(err, &held) || held.Lease.Holder != "c:3" {
		t.Errorf("second take-over: %v, want LeaseHeldError naming c:3", err)
	}
	if err := db.ReleaseLease(ctx, "sender", "c:3"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AcquireLease(ctx, "sender", "a:1", at(7, 2), time.Minute); err != nil {
		t.Errorf("after release: %v", err)
	}
}

func TestBouncesAndComplaints(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	soft := mustCreateSubscriber(t, db, sampleSubscriber("soft@example.com", "lagos"))
	hard := mustCreateSubscriber(t, db, sampleSubscriber("hard@example.com", "lagos"))
	angry := mustCreateSubscriber(t, db, sampleSubscriber("Angry@Example.com", "lagos"))
	for i := 1; i <= 3; i++ {
		n, bounced, err := db.RecordSoftBounce(ctx, soft.ID, 3)
		if err != nil || n != i || bounced != (i == 3) {
			t.Errorf("soft bounce %d: count %d bounced %v err %v", i, n, bounced, err)
		}
	}
	if changed, err := db.MarkBounced(ctx, hard.ID); err != nil || !changed {
		t.Errorf("MarkBounced: %v %v", changed, err)
	}
	if changed, err := db.MarkBounced(ctx, hard.ID); err != nil || changed {
		t.Errorf("second MarkBounced: %v %v, want no change", changed, err)
	}
	if err := db.Complain(ctx, angry.ID, "complaint via ARF"); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[int64]digest.SubscriberStatus{soft.ID: digest.StatusBounced, hard.ID: digest.StatusBounced, angry.ID: digest.StatusUnsubscribed} {
		if s, _ := db.Subscriber(ctx, id); s.Status != want {
			t.Errorf("subscriber %d: %s, want %s", id, s.Status, want)
		}
	}
	if reason, ok, err := db.Suppressed(ctx, "angry@example.com"); err != nil || !ok || reason != "complaint via ARF" {
		t.Errorf("Suppressed = %q %v %v", reason, ok, err)
	}
	if _, ok, _ := db.Suppressed(ctx, "soft@example.com"); ok {
		t.Errorf("a bounce suppressed the address")
	}
	if _, err := db.MarkBounced(ctx, 999); !errors.Is(err, digest.ErrNotFound) {
		t.Errorf("MarkBounced of a missing subscriber: %v", err)
	}
}

func TestDeliveryChangesOfMissingOrInvalid(t *testing.T) {
	ctx := context.Background()
	f := newDeliveryFixture(t)
	d := mustCreateDelivery(t, f.db, sampleDelivery(f.sub.ID, "2026-03-01", at(7, 0), f.briefs[0]))

	for name, err := range map[string]error{
		"MarkDeliverySent":     f.db.MarkDeliverySent(ctx, 999, at(7, 0), "250 ok"),
		"MarkDeliveryFailed":   f.db.MarkDeliveryFailed(ctx, 999, "x", false),
		"MarkDeliveryDeferred": f.db.MarkDeliveryDeferred(ctx, 999, at(8, 0), "x"),
	} {
		if !errors.Is(err, digest.ErrNotFound) {
			t.Errorf("%s: err = %v, want ErrNotFound", name, err)
		}
	}
	if err := f.db.MarkDeliveryDeferred(ctx, d.ID, at(8, 0), "x"); !errors.Is(err, errWrongState) {
		t.Errorf("deferring a delivery nobody claimed: err = %v, want errWrongState", err)
	}
	t.Run("zero sentAt", func(t *testing.T) {
		wantFieldError(t, f.db.MarkDeliverySent(ctx, d.ID, time.Time{}, "250 ok"), "sent_at")
	})
	got, err := f.db.Delivery(ctx, d.ID)
	if err != nil || !reflect.DeepEqual(got, d) {
		t.Errorf("refused changes altered the delivery: %+v, %v", got, err)
	}
}

func TestListDeliveries(t *testing.T) {
	ctx := context.Background()
	f := newDeliveryFixture(t)
	other := mustCreateSubscriber(t, f.db, sampleSubscriber("other@example.com", "lagos"))
	a := mustCreateDelivery(t, f.db, sampleDelivery(f.sub.ID, "2026-03-01", at(7, 0), f.briefs[0], f.briefs[1]))
	b := mustCreateDelivery(t, f.db, sampleDelivery(other.ID, "2026-03-01", at(7, 0), f.briefs[1]))
	c := mustCreateDelivery(t, f.db, sampleDelivery(f.sub.ID, "2026-03-02", at(7, 0)))
	if err := f.db.MarkDeliverySent(ctx, a.ID, at(7, 1), "250 ok"); err != nil {
		t.Fatal(err)
	}
	if err := f.db.MarkDeliveryFailed(ctx, b.ID, "boom", false); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		f    DeliveryFilter
		want []int64
	}{
		{"all", DeliveryFilter{}, []int64{a.ID, b.ID, c.ID}},
		{"sent", DeliveryFilter{Status: digest.DeliverySent}, []int64{a.ID}},
		{"failed", DeliveryFilter{Status: digest.DeliveryFailed}, []int64{b.ID}},
		{"queued", DeliveryFilter{Status: digest.DeliveryQueued}, []int64{c.ID}},
		{"date", DeliveryFilter{Date: "2026-03-01"}, []int64{a.ID, b.ID}},
		{"subscriber", DeliveryFilter{SubscriberID: f.sub.ID}, []int64{a.ID, c.ID}},
		{"all three", DeliveryFilter{Status: digest.DeliverySent, Date: "2026-03-01", SubscriberID: f.sub.ID}, []int64{a.ID}},
		{"none", DeliveryFilter{Date: "2027-01-01"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.db.ListDeliveries(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, d := range got {
				ids = append(ids, d.ID)
			}
			if !slices.Equal(ids, tc.want) {
				t.Errorf("ListDeliveries(%+v) = %v, want %v", tc.f, ids, tc.want)
			}
		})
	}
	all, _ := f.db.ListDeliveries(ctx, DeliveryFilter{})
	if len(all) == 3 && !slices.Equal(all[0].BriefIDs, []int64{f.briefs[0], f.briefs[1]}) {
		t.Errorf("ListDeliveries lost the brief ids: %+v", all[0])
	}
}

// What a reader has not had, as the store's heads and recent deliveries
// let digest.Selection work it out: a queued delivery's briefs still
// count, a sent one's do not, a brief stored after the reader's digest
// went out does, and other readers' deliveries do not matter.
func TestNotSentFromStore(t *testing.T) {
	ctx := context.Background()
	f := newDeliveryFixture(t) // briefs one, two, three published 06:00, 06:01, 06:02 in lagos
	other := mustCreateSubscriber(t, f.db, sampleSubscriber("other@example.com", "lagos"))
	ids := map[int64]string{f.briefs[0]: "one", f.briefs[1]: "two", f.briefs[2]: "three"}
	notSent := func(sub int64, after time.Time) []string {
		t.Helper()
		var out []string
		for _, id := range notSent(t, f.db, sub, []string{"lagos"}, after, at(12, 0)) {
			out = append(out, ids[id])
		}
		return out
	}
	if got, want := notSent(f.sub.ID, at(5, 0)), []string{"three", "two", "one"}; !slices.Equal(got, want) {
		t.Fatalf("before any delivery: %v, want %v", got, want)
	}

	// A queued delivery has not reached the reader: its briefs still count.
	d := mustCreateDelivery(t, f.db, sampleDelivery(f.sub.ID, "2026-03-01", at(6, 1), f.briefs[0], f.briefs[1]))
	if got, want := notSent(f.sub.ID, at(5, 0)), []string{"three", "two", "one"}; !slices.Equal(got, want) {
		t.Errorf("with a queued delivery: %v, want %v", got, want)
	}
	if err := f.db.MarkDeliverySent(ctx, d.ID, at(6, 5), "250 ok"); err != nil {
		t.Fatal(err)
	}
	// Sent: those briefs are had; "three" (published 06:02, after the
	// cut-off) and any brief that arrived late are not.
	if got, want := notSent(f.sub.ID, at(5, 0)), []string{"three"}; !slices.Equal(got, want) {
		t.Errorf("after the delivery was sent: %v, want %v", got, want)
	}
	late := mustUpsertBrief(t, f.db, sampleBrief("late", "lagos", at(6, 0).Add(30*time.Second)))
	ids[late.ID] = "late"
	if got, want := notSent(f.sub.ID, at(5, 0)), []string{"three", "late"}; !slices.Equal(got, want) {
		t.Errorf("a brief published before the cut-off but stored after it: %v, want %v (id %d)", got, want, late.ID)
	}
	// The window still bounds it, and other readers' deliveries do not count.
	if got, want := notSent(f.sub.ID, at(6, 1)), []string{"three"}; !slices.Equal(got, want) {
		t.Errorf("window after 06:01: %v, want %v", got, want)
	}
	if got, want := notSent(other.ID, at(5, 0)), []string{"three", "two", "late", "one"}; !slices.Equal(got, want) {
		t.Errorf("another reader: %v, want %v", got, want)
	}
}

// A page's deliveries get their ids in claim order, (due_at, reader), so
// that a pass claims neighbouring rows; each keeps its own id.
func TestPlanDeliveriesInClaimOrder(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	brief := mustUpsertBrief(t, db, sampleBrief("b", "lagos", at(1, 0))).ID
	var page []digest.Delivery
	for i, due := range []time.Time{at(9, 0), at(7, 0), at(8, 0), at(7, 0), {}} {
		sub := mustCreateSubscriber(t, db, sampleSubscriber(fmt.Sprintf("r%d@example.com", i), "lagos"))
		d := sampleDelivery(sub.ID, "2026-03-01", at(6, 0), brief)
		d.DueAt = due
		page = append(page, d)
	}
	ptrs := make([]*digest.Delivery, len(page))
	for i := range page {
		ptrs[i] = &page[i]
	}
	if n, err := db.PlanDeliveries(ctx, ptrs); err != nil || n != len(page) {
		t.Fatalf("PlanDeliveries = %d, %v", n, err)
	}
	// No due time first (as claims take them), then 07:00 by reader, 08:00, 09:00.
	want := []int{4, 1, 3, 2, 0}
	for k := 1; k < len(want); k++ {
		if a, b := page[want[k-1]], page[want[k]]; a.ID >= b.ID {
			t.Errorf("delivery of reader %d (due %v) has id %d, not below reader %d's (due %v) id %d",
				a.SubscriberID, a.DueAt, a.ID, b.SubscriberID, b.DueAt, b.ID)
		}
	}
	for _, d := range page {
		stored, err := db.Delivery(ctx, d.ID)
		if err != nil || stored.SubscriberID != d.SubscriberID || stored.MessageID != d.MessageID || !stored.DueAt.Equal(d.DueAt) {
			t.Errorf("id %d holds %+v, %v; want reader %d's delivery", d.ID, stored, err, d.SubscriberID)
		}
	}
}
