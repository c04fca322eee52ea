package sqlite

import (
	"context"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/delivery/outbox"
)

// sendNow claims d (which must be the only claimable delivery) and records
// it sent, as a pass's worker and ledger do.
func (f settleFixture) sendNow(t *testing.T, d digest.Delivery, now time.Time) {
	t.Helper()
	claims, _ := f.settle(t, now, nil, outbox.ClaimRequest{Holder: "w", N: 1})
	if len(claims[0]) != 1 || claims[0][0].Delivery.ID != d.ID {
		t.Fatalf("claimed %v, want delivery %d", claimIDs(claims[0]), d.ID)
	}
	_, refused := f.settle(t, now, []outbox.Result{{DeliveryID: d.ID, Status: digest.DeliverySent, SentAt: now, Reason: "250 ok"}})
	if refused[0] != nil {
		t.Fatalf("sent outcome refused: %v", refused[0])
	}
}

func (f settleFixture) catchUp(t *testing.T) int {
	t.Helper()
	moved, err := f.db.CatchUpWatermarks(context.Background())
	if err != nil {
		t.Fatalf("CatchUpWatermarks: %v", err)
	}
	return moved
}

func TestCatchUpWatermarks(t *testing.T) {
	f := newSettleFixture(t)
	a, b := f.subs[0], f.subs[1]
	if moved := f.catchUp(t); moved != 0 {
		t.Errorf("a catch-up with nothing sent moved %d watermarks", moved)
	}
	f.sendNow(t, f.plan(t, a, "2026-03-01", at(7, 0), at(7, 0), f.briefs[0]), at(7, 1))
	f.sendNow(t, f.plan(t, b, "2026-03-01", at(7, 5), at(7, 5), f.briefs[1]), at(7, 6))
	f.sendNow(t, f.plan(t, a, "2026-03-02", at(7, 0).AddDate(0, 0, 1), at(7, 0).AddDate(0, 0, 1), f.briefs[2]), at(7, 1).AddDate(0, 0, 1))
	// A delivery that fails moves nothing.
	c := f.plan(t, f.subs[2], "2026-03-02", at(8, 0), at(8, 0), f.briefs[3])
	claims, _ := f.settle(t, at(8, 1), nil, outbox.ClaimRequest{Holder: "w", N: 1})
	if len(claims[0]) != 1 || claims[0][0].Delivery.ID != c.ID {
		t.Fatalf("claimed %v, want %d", claimIDs(claims[0]), c.ID)
	}
	f.settle(t, at(8, 1), []outbox.Result{{DeliveryID: c.ID, Status: digest.DeliveryFailed, Reason: "550 no"}})

	f.db.Now = func() time.Time { return at(9, 0) }
	if moved := f.catchUp(t); moved != 2 {
		t.Errorf("moved %d watermarks, want 2 (readers a and b)", moved)
	}
	for _, tc := range []struct {
		sub  digest.Subscriber
		want time.Time
	}{
		{a, at(7, 0).AddDate(0, 0, 1)}, // the later of a's two digests
		{b, at(7, 5)},
		{f.subs[2], time.Time{}},
	} {
		s := mustSubscriber(t, f.db, tc.sub.ID)
		if !s.Watermark.Equal(tc.want) {
			t.Errorf("%s: watermark = %v, want %v", s.Email, s.Watermark, tc.want)
		}
		if !tc.want.IsZero() && !s.UpdatedAt.Equal(at(9, 0)) {
			t.Errorf("%s: updated_at = %v, want the catch-up's %v", s.Email, s.UpdatedAt, at(9, 0))
		}
	}
	if moved := f.catchUp(t); moved != 0 {
		t.Errorf("a second catch-up moved %d watermarks", moved)
	}

	// An older digest recorded late never moves a watermark back.
	old := f.plan(t, b, "2026-02-28", at(6, 0), at(6, 0), f.briefs[4])
	f.sendNow(t, old, at(9, 30))
	if moved := f.catchUp(t); moved != 0 {
		t.Errorf("an older digest moved %d watermarks", moved)
	}
	if s := mustSubscriber(t, f.db, b.ID); !s.Watermark.Equal(at(7, 5)) {
		t.Errorf("watermark moved back to %v", s.Watermark)
	}
}

// Erasing the reader whose events are the newest frees their event ids,
// which SQLite then hands out again: the digests recorded under those ids
// must still move their readers' watermarks.
func TestCatchUpAfterErasingTheNewestEvents(t *testing.T) {
	ctx := context.Background()
	f := newSettleFixture(t)
	kept, erased, later := f.subs[0], f.subs[2], f.subs[1]
	f.sendNow(t, f.plan(t, kept, "2026-03-01", at(7, 0), at(7, 0), f.briefs[0]), at(7, 1))
	f.sendNow(t, f.plan(t, erased, "2026-03-01", at(7, 0), at(7, 0), f.briefs[1]), at(7, 2))
	if moved := f.catchUp(t); moved != 2 {
		t.Fatalf("moved %d watermarks, want 2", moved)
	}
	f.db.HashKey = []byte("0123456789abcdef0123456789abcdef")
	if err := f.db.EraseSubscriber(ctx, erased.Email); err != nil {
		t.Fatal(err)
	}
	f.sendNow(t, f.plan(t, later, "2026-03-01", at(7, 30), at(7, 30), f.briefs[2]), at(7, 31))
	if moved := f.catchUp(t); moved != 1 {
		t.Errorf("moved %d watermarks, want the later reader's", moved)
	}
	if s := mustSubscriber(t, f.db, later.ID); !s.Watermark.Equal(at(7, 30)) {
		t.Errorf("watermark of the reader sent after the erasure = %v, want %v", s.Watermark, at(7, 30))
	}
}
