package sqlite

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/delivery/outbox"
)

// What a send pass relies on from Settle: every outcome lands with its
// event, the watermark moves (at the catch-up) only on sent and never back, refusals change
// nothing and spoil nothing else, and claims come in (due_at, id) order
// with their briefs and reader as planned.

// settleFixture is a database with three readers and five briefs.
type settleFixture struct {
	db     *DB
	subs   []digest.Subscriber
	briefs []int64
}

func newSettleFixture(t *testing.T) settleFixture {
	t.Helper()
	db := openTest(t)
	f := settleFixture{db: db}
	for i, regions := range [][]string{{"lagos", "accra"}, {"cairo", "lagos", "tunis"}, {"nairobi"}} {
		s := sampleSubscriber(fmt.Sprintf("reader%d@example.com", i), regions...)
		s.Consent = digest.Consent{Source: "form", At: at(1, i), IP: "192.0.2.1", UserAgent: "test", TextVersion: "v1"}
		f.subs = append(f.subs, mustCreateSubscriber(t, db, s))
	}
	for i := range 5 {
		f.briefs = append(f.briefs, mustUpsertBrief(t, db, sampleBrief(fmt.Sprintf("b%d", i), "lagos", at(5, i))).ID)
	}
	return f
}

// plan queues a delivery for sub on day with the given cut-off and due
// time, carrying briefs in that order.
func (f settleFixture) plan(t *testing.T, sub digest.Subscriber, day digest.Date, cutoff, due time.Time, briefs ...int64) digest.Delivery {
	t.Helper()
	d := sampleDelivery(sub.ID, day, cutoff, briefs...)
	d.DueAt = due
	return mustCreateDelivery(t, f.db, d)
}

// settle calls Settle and fails the test on an error of the whole call.
func (f settleFixture) settle(t *testing.T, now time.Time, outcomes []outbox.Result, reqs ...outbox.ClaimRequest) ([][]outbox.Claim, []error) {
	t.Helper()
	claims, refused, err := f.db.Settle(context.Background(), now, outcomes, reqs)
	if err != nil {
		t.Fatalf("Settle: %v", err)
	}
	if len(refused) != len(outcomes) || len(claims) != len(reqs) {
		t.Fatalf("Settle answered %d refusals for %d outcomes and %d claims for %d requests",
			len(refused), len(outcomes), len(claims), len(reqs))
	}
	return claims, refused
}

// trail returns a delivery's events as "from>to reason".
func trail(t *testing.T, db *DB, id int64) []string {
	t.Helper()
	evs, err := db.DeliveryEvents(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, fmt.Sprintf("%s>%s %s", e.From, e.To, e.Reason))
	}
	return out
}

func mustDelivery(t *testing.T, db *DB, id int64) digest.Delivery {
	t.Helper()
	d, err := db.Delivery(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustSubscriber(t *testing.T, db *DB, id int64) digest.Subscriber {
	t.Helper()
	s, err := db.Subscriber(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSettleRecordsEachOutcome(t *testing.T) {
	tests := []struct {
		name      string
		claimed   bool // claim the delivery before the outcome
		outcome   outbox.Result
		want      digest.Delivery // fields that change, on top of the planned delivery
		wantTrail []string
		watermark bool // the reader's watermark becomes the cut-off (after the catch-up)
		subStatus digest.SubscriberStatus
	}{
		{
			name: "sent", claimed: true,
			outcome:   outbox.Result{Status: digest.DeliverySent, SentAt: at(7, 31), Reason: "250 2.0.0 queued as A"},
			want:      digest.Delivery{Status: digest.DeliverySent, Attempts: 1, SentAt: at(7, 31)},
			wantTrail: []string{">queued planned", "queued>sending claimed by w1", "sending>sent 250 2.0.0 queued as A"},
			watermark: true, subStatus: digest.StatusActive,
		},
		{
			name:      "sent without a claim",
			outcome:   outbox.Result{Status: digest.DeliverySent, SentAt: at(7, 31), Reason: "250 ok"},
			want:      digest.Delivery{Status: digest.DeliverySent, SentAt: at(7, 31)},
			wantTrail: []string{">queued planned", "queued>sent 250 ok"},
			watermark: true, subStatus: digest.StatusActive,
		},
		{
			name: "deferred", claimed: true,
			outcome:   outbox.Result{Status: digest.DeliveryDeferred, Next: at(7, 45), Reason: "421 4.4.2 busy"},
			want:      digest.Delivery{Status: digest.DeliveryDeferred, Attempts: 1, Error: "421 4.4.2 busy", NextAttemptAt: at(7, 45)},
			wantTrail: []string{">queued planned", "queued>sending claimed by w1", "sending>deferred 421 4.4.2 busy"},
			subStatus: digest.StatusActive,
		},
		{
			name: "failed with a bounce", claimed: true,
			outcome:   outbox.Result{Status: digest.DeliveryFailed, Reason: "550 5.1.1 no such user", Bounce: true},
			want:      digest.Delivery{Status: digest.DeliveryFailed, Attempts: 1, Error: "550 5.1.1 no such user"},
			wantTrail: []string{">queued planned", "queued>sending claimed by w1", "sending>failed 550 5.1.1 no such user"},
			subStatus: digest.StatusBounced,
		},
		{
			name: "failed on the sender's side", claimed: true,
			outcome:   outbox.Result{Status: digest.DeliveryFailed, Reason: "template broken"},
			want:      digest.Delivery{Status: digest.DeliveryFailed, Attempts: 1, Error: "template broken"},
			wantTrail: []string{">queued planned", "queued>sending claimed by w1", "sending>failed template broken"},
			subStatus: digest.StatusActive,
		},
		{
			name: "suppressed", claimed: true,
			outcome:   outbox.Result{Status: digest.DeliverySuppressed, Reason: "reader unsubscribed"},
			want:      digest.Delivery{Status: digest.DeliverySuppressed, Attempts: 1, Error: "reader unsubscribed"},
			wantTrail: []string{">queued planned", "queued>sending claimed by w1", "sending>suppressed reader unsubscribed"},
			subStatus: digest.StatusActive,
		},
		{
			name: "released", claimed: true,
			outcome:   outbox.Result{Status: digest.DeliveryQueued, Reason: "pass stopped"},
			want:      digest.Delivery{Status: digest.DeliveryQueued, Attempts: 0, Error: "pass stopped"},
			wantTrail: []string{">queued planned", "queued>sending claimed by w1", "sending>queued pass stopped"},
			subStatus: digest.StatusActive,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newSettleFixture(t)
			sub := f.subs[0]
			d := f.plan(t, sub, "2026-03-01", at(7, 0), at(7, 30), f.briefs[2], f.briefs[0])
			if tc.claimed {
				claims, _ := f.settle(t, at(7, 30), nil, outbox.ClaimRequest{Holder: "w1", N: 1})
				if len(claims[0]) != 1 {
					t.Fatalf("claimed %d deliveries, want 1", len(claims[0]))
				}
			}
			o := tc.outcome
			o.DeliveryID = d.ID
			f.db.Now = func() time.Time { return at(8, 0) } // the time of the recording
			_, refused := f.settle(t, at(7, 31), []outbox.Result{o})
			if refused[0] != nil {
				t.Fatalf("outcome refused: %v", refused[0])
			}

			want := d
			w := tc.want
			want.Status, want.Attempts, want.Error, want.NextAttemptAt, want.SentAt = w.Status, w.Attempts, w.Error, w.NextAttemptAt, w.SentAt
			want.UpdatedAt = at(8, 0)
			if got := mustDelivery(t, f.db, d.ID); !reflect.DeepEqual(got, want) {
				t.Errorf("delivery after the outcome\n got: %+v\nwant: %+v", got, want)
			}
			if got := trail(t, f.db, d.ID); !slices.Equal(got, tc.wantTrail) {
				t.Errorf("events:\n got %q\nwant %q", got, tc.wantTrail)
			}
			if _, err := f.db.CatchUpWatermarks(context.Background()); err != nil {
				t.Fatal(err)
			}
			s := mustSubscriber(t, f.db, sub.ID)
			wantWatermark := time.Time{}
			if tc.watermark {
				wantWatermark = at(7, 0)
			}
			if !s.Watermark.Equal(wantWatermark) {
				t.Errorf("watermark = %v, want %v", s.Watermark, wantWatermark)
			}
			if s.Status != tc.subStatus {
				t.Errorf("reader status = %s, want %s", s.Status, tc.subStatus)
			}
			if tc.watermark || tc.subStatus != sub.Status {
				if !s.UpdatedAt.Equal(at(8, 0)) {
					t.Errorf("reader updated_at = %v, want %v", s.UpdatedAt, at(8, 0))
				}
			} else if !s.UpdatedAt.Equal(sub.UpdatedAt) {
				t.Errorf("reader updated_at moved from %v to %v although nothing of the reader changed", sub.UpdatedAt, s.UpdatedAt)
			}
		})
	}
}

func TestSettleWatermarkNeverMovesBack(t *testing.T) {
	f := newSettleFixture(t)
	sub := f.subs[1]
	older := f.plan(t, sub, "2026-03-01", at(7, 0), at(7, 30))
	newer := f.plan(t, sub, "2026-03-02", at(7, 0).AddDate(0, 0, 1), at(7, 30))
	claims, _ := f.settle(t, at(12, 0).AddDate(0, 0, 1), nil, outbox.ClaimRequest{Holder: "w", N: 2})
	if len(claims[0]) != 2 {
		t.Fatalf("claimed %d, want 2", len(claims[0]))
	}
	sent := func(d digest.Delivery) outbox.Result {
		return outbox.Result{DeliveryID: d.ID, Status: digest.DeliverySent, SentAt: at(12, 0), Reason: "250 ok"}
	}
	// The newer is recorded first, in the same round as the older.
	_, refused := f.settle(t, at(12, 0), []outbox.Result{sent(newer), sent(older)})
	for i, err := range refused {
		if err != nil {
			t.Fatalf("outcome %d refused: %v", i, err)
		}
	}
	if moved, err := f.db.CatchUpWatermarks(context.Background()); err != nil || moved != 1 {
		t.Fatalf("CatchUpWatermarks moved %d, %v; want the one reader", moved, err)
	}
	if s := mustSubscriber(t, f.db, sub.ID); !s.Watermark.Equal(newer.Cutoff) {
		t.Errorf("watermark = %v, want the newer cut-off %v", s.Watermark, newer.Cutoff)
	}
}

func TestSettleRefusalsChangeNothingElse(t *testing.T) {
	f := newSettleFixture(t)
	sent := f.plan(t, f.subs[0], "2026-03-01", at(7, 0), at(7, 0))
	queued := f.plan(t, f.subs[1], "2026-03-01", at(7, 0), at(9, 0))
	good := f.plan(t, f.subs[2], "2026-03-01", at(7, 0), at(7, 1))
	claims, _ := f.settle(t, at(7, 5), nil, outbox.ClaimRequest{Holder: "w", N: 2})
	if got := claimIDs(claims[0]); !slices.Equal(got, []int64{sent.ID, good.ID}) {
		t.Fatalf("claimed %v, want %v", got, []int64{sent.ID, good.ID})
	}
	f.settle(t, at(7, 5), []outbox.Result{{DeliveryID: sent.ID, Status: digest.DeliverySent, SentAt: at(7, 5), Reason: "250 first"}})
	sentBefore, queuedBefore := mustDelivery(t, f.db, sent.ID), mustDelivery(t, f.db, queued.ID)
	sentTrail, queuedTrail := trail(t, f.db, sent.ID), trail(t, f.db, queued.ID)

	outcomes := []outbox.Result{
		{DeliveryID: sent.ID, Status: digest.DeliverySent, SentAt: at(7, 6), Reason: "250 again"},
		{DeliveryID: sent.ID, Status: digest.DeliveryFailed, Reason: "late", Bounce: true},
		{DeliveryID: queued.ID, Status: digest.DeliveryDeferred, Next: at(8, 0), Reason: "421"},
		{DeliveryID: queued.ID, Status: digest.DeliveryQueued, Reason: "release"},
		{DeliveryID: 99999, Status: digest.DeliverySent, SentAt: at(7, 6), Reason: "250"},
		{DeliveryID: good.ID, Status: digest.DeliverySent, SentAt: at(7, 6), Reason: "250 good"},
		{DeliveryID: good.ID, Status: digest.DeliverySent, SentAt: at(7, 7), Reason: "250 twice"},
	}
	_, refused := f.settle(t, at(7, 6), outcomes)
	for i, want := range []error{errAlreadySent, errAlreadySent, errWrongState, errWrongState, digest.ErrNotFound, nil, errAlreadySent} {
		switch {
		case want == nil && refused[i] != nil:
			t.Errorf("outcome %d refused: %v", i, refused[i])
		case want != nil && !errors.Is(refused[i], want):
			t.Errorf("outcome %d: refused = %v, want %v", i, refused[i], want)
		}
	}
	if got := mustDelivery(t, f.db, sent.ID); !reflect.DeepEqual(got, sentBefore) {
		t.Errorf("refused outcomes changed the sent delivery\n got: %+v\nwant: %+v", got, sentBefore)
	}
	if got := mustDelivery(t, f.db, queued.ID); !reflect.DeepEqual(got, queuedBefore) {
		t.Errorf("refused outcomes changed the queued delivery\n got: %+v\nwant: %+v", got, queuedBefore)
	}
	if got := trail(t, f.db, sent.ID); !slices.Equal(got, sentTrail) {
		t.Errorf("refused outcomes added events: %q, was %q", got, sentTrail)
	}
	if got := trail(t, f.db, queued.ID); !slices.Equal(got, queuedTrail) {
		t.Errorf("refused outcomes added events: %q, was %q", got, queuedTrail)
	}
	if s := mustSubscriber(t, f.db, f.subs[0].ID); s.Status != digest.StatusActive {
		t.Errorf("a refused bounce made the reader %s", s.Status)
	}
	if g := mustDelivery(t, f.db, good.ID); g.Status != digest.DeliverySent || g.Error != "" || !g.SentAt.Equal(at(7, 6)) {
		t.Errorf("the accepted outcome beside the refused ones: %+v", g)
	}
	if got := trail(t, f.db, good.ID); len(got) != 3 || got[2] != "sending>sent 250 good" {
		t.Errorf("a second sent outcome in the round added events: %q", got)
	}
}

func TestSettleRollsBackTheWholeRound(t *testing.T) {
	ctx := context.Background()
	f := newSettleFixture(t)
	a := f.plan(t, f.subs[0], "2026-03-01", at(7, 0), at(7, 0))
	b := f.plan(t, f.subs[1], "2026-03-01", at(7, 0), at(7, 1))
	c := f.plan(t, f.subs[2], "2026-03-01", at(7, 0), at(7, 2))
	f.settle(t, at(7, 5), nil, outbox.ClaimRequest{Holder: "w", N: 2})
	if _, err := f.db.rw.ExecContext(ctx, `
		CREATE TRIGGER refuse_event BEFORE INSERT ON delivery_events WHEN NEW.delivery_id = `+fmt.Sprint(b.ID)+` AND NEW.to_status = 'sent'
		BEGIN SELECT RAISE(ABORT, 'event refused by test'); END`); err != nil {
		t.Fatal(err)
	}
	before := map[int64]digest.Delivery{}
	for _, d := range []digest.Delivery{a, b, c} {
		before[d.ID] = mustDelivery(t, f.db, d.ID)
	}
	_, _, err := f.db.Settle(ctx, at(7, 6), []outbox.Result{
		{DeliveryID: a.ID, Status: digest.DeliverySent, SentAt: at(7, 6), Reason: "250"},
		{DeliveryID: b.ID, Status: digest.DeliverySent, SentAt: at(7, 6), Reason: "250"},
	}, []outbox.ClaimRequest{{Holder: "w", N: 1}})
	if err == nil {
		t.Fatal("Settle succeeded although an event insert failed")
	}
	for id, want := range before {
		if got := mustDelivery(t, f.db, id); !reflect.DeepEqual(got, want) {
			t.Errorf("delivery %d changed by a failed round\n got: %+v\nwant: %+v", id, got, want)
		}
	}
	if _, err := f.db.CatchUpWatermarks(ctx); err != nil {
		t.Fatal(err)
	}
	if s := mustSubscriber(t, f.db, f.subs[0].ID); !s.Watermark.IsZero() {
		t.Errorf("a failed round moved a watermark to %v", s.Watermark)
	}
}

func TestSettleRefusesInvalidOutcomes(t *testing.T) {
	f := newSettleFixture(t)
	d := f.plan(t, f.subs[0], "2026-03-01", at(7, 0), at(7, 0))
	for _, tc := range []struct {
		name    string
		outcome outbox.Result
		field   string
	}{
		{"sent without a time", outbox.Result{DeliveryID: d.ID, Status: digest.DeliverySent}, "sent_at"},
		{"sent out of range", outbox.Result{DeliveryID: d.ID, Status: digest.DeliverySent, SentAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, "sent_at"},
		{"deferred without a next attempt", outbox.Result{DeliveryID: d.ID, Status: digest.DeliveryDeferred}, "next_attempt_at"},
		{"not an outcome", outbox.Result{DeliveryID: d.ID, Status: digest.DeliveryExpired}, "status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := f.db.Settle(context.Background(), at(7, 0), []outbox.Result{tc.outcome},
				[]outbox.ClaimRequest{{Holder: "w", N: 1}})
			wantFieldError(t, err, tc.field)
			if got := mustDelivery(t, f.db, d.ID); got.Status != digest.DeliveryQueued || got.Attempts != 0 {
				t.Errorf("a refused call changed the delivery: %+v", got)
			}
		})
	}
}

func claimIDs(cs []outbox.Claim) []int64 {
	var ids []int64
	for _, c := range cs {
		ids = append(ids, c.Delivery.ID)
	}
	return ids
}

func TestSettleClaimsInDueOrder(t *testing.T) {
	f := newSettleFixture(t)
	ctx := context.Background()
	// Planned out of due order, on several days so one reader can have
	// several; one without a due time (claimed first, as NULL sorts first).
	var ds []digest.Delivery
	for i, due := range []time.Time{at(7, 3), at(7, 1), {}, at(7, 2), at(7, 1), at(7, 5), at(7, 4)} {
		day := digest.DateOf(at(0, 0).AddDate(0, 0, i))
		ds = append(ds, f.plan(t, f.subs[i%3], day, at(6, 0).AddDate(0, 0, i), due))
	}
	// ds[3] (due 7:02) is deferred until 7:20: not claimable at 7:10.
	// ds[6] (due 7:04) is deferred until 7:05: claimable, in its due place.
	claims, _ := f.settle(t, at(7, 0), nil, outbox.ClaimRequest{Holder: "setup", N: 7})
	if len(claims[0]) != 7 {
		t.Fatalf("setup claimed %d, want 7", len(claims[0]))
	}
	var outcomes []outbox.Result
	for i, d := range ds {
		switch i {
		case 3:
			outcomes = append(outcomes, outbox.Result{DeliveryID: d.ID, Status: digest.DeliveryDeferred, Next: at(7, 20), Reason: "421"})
		case 6:
			outcomes = append(outcomes, outbox.Result{DeliveryID: d.ID, Status: digest.DeliveryDeferred, Next: at(7, 5), Reason: "421"})
		default:
			outcomes = append(outcomes, outbox.Result{DeliveryID: d.ID, Status: digest.DeliveryQueued, Reason: "released"})
		}
	}
	f.settle(t, at(7, 0), outcomes)

	// Three workers ask in one round: each gets the next part of the queue.
	claims, _ = f.settle(t, at(7, 10), nil,
		outbox.ClaimRequest{Holder: "w1", N: 2}, outbox.ClaimRequest{Holder: "w2", N: 0},
		outbox.ClaimRequest{Holder: "w3", N: 3}, outbox.ClaimRequest{Holder: "w4", N: 5})
	want := [][]int64{{ds[2].ID, ds[1].ID}, nil, {ds[4].ID, ds[0].ID, ds[6].ID}, {ds[5].ID}}
	for i := range want {
		if got := claimIDs(claims[i]); !slices.Equal(got, want[i]) {
			t.Errorf("request %d claimed %v, want %v", i, got, want[i])
		}
	}
	if got := trail(t, f.db, ds[6].ID); got[len(got)-1] != "deferred>sending claimed by w3" {
		t.Errorf("events of the deferred claim: %q", got)
	}
	if d := mustDelivery(t, f.db, ds[3].ID); d.Status != digest.DeliveryDeferred {
		t.Errorf("a deferral not yet due was touched: %+v", d)
	}
	if _, err := f.db.ClaimDelivery(ctx, at(7, 10), "late"); !errors.Is(err, digest.ErrNotFound) {
		t.Errorf("ClaimDelivery after the queue was taken: %v, want ErrNotFound", err)
	}
	if c, err := f.db.ClaimDelivery(ctx, at(7, 20), "late"); err != nil || c.ID != ds[3].ID || c.Attempts != 2 {
		t.Errorf("ClaimDelivery once the deferral is due: %+v, %v; want delivery %d on attempt 2", c, err, ds[3].ID)
	}
}

func TestSettleClaimsCarryBriefsAndReader(t *testing.T) {
	f := newSettleFixture(t)
	ctx := context.Background()
	briefs := [][]int64{
		{f.briefs[3], f.briefs[0], f.briefs[4]},
		{f.briefs[1]},
		nil,
		{f.briefs[4], f.briefs[3], f.briefs[2], f.briefs[1], f.briefs[0]},
	}
	var ds []digest.Delivery
	for i, bs := range briefs {
		day := digest.DateOf(at(0, 0).AddDate(0, 0, i/3))
		ds = append(ds, f.plan(t, f.subs[i%3], day, at(6, i), at(7, i), bs...))
	}
	f.db.Now = func() time.Time { return at(7, 30) }
	claims, _ := f.settle(t, at(7, 30), nil, outbox.ClaimRequest{Holder: "host:1/w0", N: 10})
	if len(claims[0]) != len(ds) {
		t.Fatalf("claimed %d, want %d", len(claims[0]), len(ds))
	}
	for i, c := range claims[0] {
		want := ds[i]
		want.Status, want.Attempts, want.UpdatedAt = digest.DeliverySending, 1, at(7, 30)
		if want.BriefIDs == nil {
			want.BriefIDs = c.Delivery.BriefIDs // none planned: nil or empty alike
		}
		if !reflect.DeepEqual(c.Delivery, want) {
			t.Errorf("claim %d delivery\n got: %+v\nwant: %+v", i, c.Delivery, want)
		}
		if len(c.Delivery.BriefIDs) != len(briefs[i]) {
			t.Errorf("claim %d carries briefs %v, want %v", i, c.Delivery.BriefIDs, briefs[i])
		}
		if stored := mustDelivery(t, f.db, want.ID); !reflect.DeepEqual(stored, c.Delivery) && len(briefs[i]) > 0 {
			t.Errorf("claim %d differs from the stored row\nclaim: %+v\nstore: %+v", i, c.Delivery, stored)
		}
		sub, err := f.db.Subscriber(ctx, want.SubscriberID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c.Subscriber, sub) {
			t.Errorf("claim %d reader\n got: %+v\nwant: %+v", i, c.Subscriber, sub)
		}
		if got := trail(t, f.db, want.ID); !slices.Equal(got, []string{">queued planned", "queued>sending claimed by host:1/w0"}) {
			t.Errorf("claim %d events: %q", i, got)
		}
	}
}

// TestSettleClaimsAReaderlessDelivery claims a delivery whose reader row is
// gone (the schema's foreign key prevents it, but a database edited by
// hand may not): it comes back with a zero Subscriber, which the pass
// suppresses, beside its readers' neighbours in claim order.
func TestSettleClaimsAReaderlessDelivery(t *testing.T) {
	f := newSettleFixture(t)
	ctx := context.Background()
	var ds []digest.Delivery
	for i := range 3 {
		ds = append(ds, f.plan(t, f.subs[i], "2026-03-01", at(6, i), at(7, i), f.briefs[i]))
	}
	conn, err := f.db.rw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"PRAGMA foreign_keys = OFF", "DELETE FROM subscriber_regions WHERE subscriber_id = " + strconv.FormatInt(f.subs[1].ID, 10),
		"DELETE FROM subscribers WHERE id = " + strconv.FormatInt(f.subs[1].ID, 10), "PRAGMA foreign_keys = ON"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn.Close()
	claims, _ := f.settle(t, at(7, 30), nil, outbox.ClaimRequest{Holder: "w", N: 10})
	if got := claimIDs(claims[0]); !slices.Equal(got, []int64{ds[0].ID, ds[1].ID, ds[2].ID}) {
		t.Fatalf("claimed %v, want all three in due order", got)
	}
	for i, c := range claims[0] {
		want := f.subs[i].ID
		if i == 1 {
			want = 0
		}
		if c.Subscriber.ID != want || c.Delivery.SubscriberID != f.subs[i].ID || len(c.Delivery.BriefIDs) != 1 {
			t.Errorf("claim %d: reader %d, delivery for %d with briefs %v; want reader %d", i, c.Subscriber.ID, c.Delivery.SubscriberID, c.Delivery.BriefIDs, want)
		}
	}
}

// TestClaimQueryPlans guards the claim's cost as the queue grows, and the
// cost of every query that finds deliveries by status through a partial
// index of migration 0006 (which only matches a literal status). The queue
// is read through deliveries_queued, already in (due_at, id) order, so a
// claim reads the rows it takes rather than sorting every queued delivery;
// the claimed rows are read back by primary key. No query here may scan
// the deliveries table, and those marked sorted=false may not sort.
func TestClaimQueryPlans(t *testing.T) {
	db := openTest(t)
	const date = "2026-03-01"
	bulk := func(sel selection, set string) (events, update query) {
		e, u := bulkStatements(sel.where, set)
		return query{e, append([]any{"at", "to", "why"}, sel.args...)}, query{u, append([]any{"to", "at"}, sel.args...)}
	}
	mustRequeue := func(f RetryFilter) selection {
		sel, err := requeueSelection(f)
		if err != nil {
			t.Fatal(err)
		}
		return sel
	}
	mustList := func(f DeliveryFilter) query {
		q, args, err := listDeliveriesQuery(f)
		if err != nil {
			t.Fatal(err)
		}
		return query{q, args}
	}
	count := func(s digest.DeliveryStatus, byDate string, args ...any) query {
		q, pre := countStateQuery(s, byDate)
		return query{q, append(pre, args...)}
	}
	recoverEvents, recoverUpdate := bulk(selection{where: recoverSending}, "")
	expireQEvents, expireQUpdate := bulk(selection{where: expireQueued, args: []any{"bound"}}, "next_attempt_at = NULL")
	expireDEvents, expireDUpdate := bulk(selection{where: expireDeferred, args: []any{"bound"}}, "next_attempt_at = NULL")
	requeueFailed, _ := bulk(mustRequeue(RetryFilter{Status: digest.DeliveryFailed}), "")
	_, requeueFailedDay := bulk(mustRequeue(RetryFilter{Status: digest.DeliveryExpired, Date: date}), "")
	_, requeueDeferred := bulk(mustRequeue(RetryFilter{Status: digest.DeliveryDeferred}), "")
	_, requeueIDs := bulk(mustRequeue(RetryFilter{IDs: []int64{1, 2}}), "")

	tests := []struct {
		name   string
		q      query
		want   string // a step the plan must have
		sorted bool   // whether a temporary B-tree may sort the rows found
	}{
		{"queue", query{claimQueue, []any{8}}, "SCAN deliveries USING COVERING INDEX deliveries_queued", false},
		{"read back", query{claimRead, []any{"[1,2]"}}, "SEARCH deliveries USING INTEGER PRIMARY KEY", false},
		{"claim: update", query{claimUpdate, []any{"at", "w", "[1,2]"}}, "SEARCH deliveries USING INTEGER PRIMARY KEY (rowid=?)", false},
		{"sent: update", query{markSentBatch, []any{"at", `[{"i":1,"a":"t","r":"250"}]`}}, "SEARCH deliveries USING INTEGER PRIMARY KEY (rowid=?)", false},
		{"watermarks: catch up", query{catchUpWatermarks, []any{"at", 1, 2}}, "SEARCH e USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)", true},
		// The due deferrals are sorted by due time; the queue is not.
		{"deferred due", query{claimDeferred, []any{"now", 8}}, "SEARCH deliveries USING COVERING INDEX deliveries_deferred (next_attempt_at<?)", true},
		{"recover sending: events", recoverEvents, "SCAN deliveries USING COVERING INDEX deliveries_sending", false},
		{"recover sending: update", recoverUpdate, "SCAN deliveries USING COVERING INDEX deliveries_sending", false},
		{"expire queued: events", expireQEvents, "SEARCH deliveries USING COVERING INDEX deliveries_queued (due_at<?)", false},
		{"expire queued: update", expireQUpdate, "SEARCH deliveries USING COVERING INDEX deliveries_queued (due_at<?)", false},
		{"expire deferred: events", expireDEvents, "SCAN deliveries USING COVERING INDEX deliveries_deferred", false},
		{"expire deferred: update", expireDUpdate, "SCAN deliveries USING COVERING INDEX deliveries_deferred", false},
		{"requeue failed", requeueFailed, "SEARCH deliveries USING COVERING INDEX deliveries_stopped (status=?)", false},
		{"requeue expired of a day", requeueFailedDay, "SEARCH deliveries USING COVERING INDEX deliveries_stopped (status=? AND digest_date=?)", false},
		{"requeue deferred", requeueDeferred, "SCAN deliveries USING COVERING INDEX deliveries_deferred", false},
		{"requeue ids", requeueIDs, "SEARCH deliveries USING INTEGER PRIMARY KEY (rowid=?)", false},
		{"count all", query{countTotal, nil}, "SCAN deliveries USING COVERING INDEX deliveries_date", false},
		{"count a day", query{countTotal + countByDate, []any{date}}, "SEARCH deliveries USING COVERING INDEX deliveries_date (digest_date=?)", false},
		{"count queued", count(digest.DeliveryQueued, ""), "SCAN deliveries USING COVERING INDEX deliveries_queued", false},
		{"count queued of a day", count(digest.DeliveryQueued, countByDate, date), "SCAN deliveries USING INDEX deliveries_queued", false},
		{"count sending of a day", count(digest.DeliverySending, countByDate, date), "SEARCH deliveries USING COVERING INDEX deliveries_sending (digest_date=?)", false},
		{"count deferred", count(digest.DeliveryDeferred, ""), "SCAN deliveries USING COVERING INDEX deliveries_deferred", false},
		{"count deferred of a day", count(digest.DeliveryDeferred, countByDate, date), "SCAN deliveries USING INDEX deliveries_deferred", false},
		{"count failed of a day", count(digest.DeliveryFailed, countByDate, date), "SEARCH deliveries USING COVERING INDEX deliveries_stopped (status=? AND digest_date=?)", false},
		{"count suppressed", count(digest.DeliverySuppressed, ""), "SEARCH deliveries USING COVERING INDEX deliveries_stopped (status=?)", false},
		{"oldest queued", query{oldestQueued, nil}, "SEARCH deliveries USING COVERING INDEX deliveries_queued", false},
		// A list by status sorts the rows it returns by id, no others.
		{"list queued", mustList(DeliveryFilter{Status: digest.DeliveryQueued}), "SCAN deliveries USING INDEX deliveries_queued", true},
		{"list sending", mustList(DeliveryFilter{Status: digest.DeliverySending}), "SCAN deliveries USING INDEX deliveries_sending", true},
		{"list deferred", mustList(DeliveryFilter{Status: digest.DeliveryDeferred}), "SCAN deliveries USING INDEX deliveries_deferred", true},
		{"list failed", mustList(DeliveryFilter{Status: digest.DeliveryFailed}), "SEARCH deliveries USING INDEX deliveries_stopped (status=?)", true},
		{"list failed of a day", mustList(DeliveryFilter{Status: digest.DeliveryFailed, Date: date}), "SEARCH deliveries USING INDEX deliveries_stopped (status=? AND digest_date=?)", false},
		{"list sent of a day", mustList(DeliveryFilter{Status: digest.DeliverySent, Date: date}), "SEARCH deliveries USING INDEX deliveries_date (digest_date=?)", false},
		{"list a reader's failed", mustList(DeliveryFilter{Status: digest.DeliveryFailed, SubscriberID: 1}), "SEARCH deliveries USING INDEX sqlite_autoindex_deliveries_2 (subscriber_id=?)", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plan := queryPlan(t, db, tc.q.sql, tc.q.args...)
			if !slices.ContainsFunc(plan, func(step string) bool { return strings.HasPrefix(step, tc.want) }) {
				t.Errorf("the plan lacks %q:\n%s", tc.want, strings.Join(plan, "\n"))
			}
			for _, step := range plan {
				if step == "SCAN deliveries" || step == "SCAN d" || (!tc.sorted && strings.Contains(step, "TEMP B-TREE")) {
					t.Errorf("the plan has %q:\n%s", step, strings.Join(plan, "\n"))
				}
			}
		})
	}
}

// query is a statement with its arguments.
type query struct {
	sql  string
	args []any
}

// queryPlan returns the steps of SQLite's plan for query.
func queryPlan(t *testing.T, db *DB, query string, args ...any) []string {
	t.Helper()
	rows, err := db.rw.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var (
			id, parent, unused int
			detail             string
		)
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}
