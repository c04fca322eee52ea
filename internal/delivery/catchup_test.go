package delivery_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/newsroom/digest/internal/delivery"
	"github.com/newsroom/digest/internal/sqlite"
)

// lostCatchUp is the real database, except that CatchUpWatermarks does
// nothing while lost is set: the pass behaves as one whose process died
// after sending, before its end-of-pass catch-up.
type lostCatchUp struct {
	*sqlite.DB
	lost atomic.Bool
}

func (s *lostCatchUp) CatchUpWatermarks(ctx context.Context) (int, error) {
	if s.lost.Load() {
		return 0, nil
	}
	return s.DB.CatchUpWatermarks(ctx)
}

// A pass that died after sending, before catching up its readers'
// watermarks, leaves them behind; the next pass catches them up before it
// plans, so a reader's window starts at the digest they were sent, less the
// grace, and not at the first-digest look-back. Without that, a brief
// published well before that digest but stored after it would come in.
func TestPassCatchesUpWatermarksBeforePlanning(t *testing.T) {
	store := &lostCatchUp{}
	h := newHarnessWith(t, harnessOptions{
		lookback: 72 * time.Hour,
		grace:    time.Hour,
		store: func(db *sqlite.DB) delivery.Store {
			store.DB = db
			return store
		},
	})
	r := h.addSubscriber("r@example.com", "R", "lagos", "Africa/Lagos", "06:00")
	h.addBrief("day1", "lagos", "2026-11-25T18:00:00Z", "Day one headline")

	// Day 1: the digest goes out (cut-off C1 = 05:05Z), then the pass
	// dies. Its start-of-pass catch-up had nothing to do (no digest sent
	// yet); its end-of-pass one is lost.
	store.lost.Store(true)
	h.run("2026-11-26T05:05:00Z")
	store.lost.Store(false)
	if n := len(h.inbox("r@example.com")); n != 1 {
		t.Fatalf("day 1: %d messages, want 1", n)
	}
	if s, err := h.db.Subscriber(h.ctx, r.ID); err != nil || !s.Watermark.IsZero() {
		t.Fatalf("after the dead pass: watermark %v, %v; want none yet", s.Watermark, err)
	}

	// Stored after digest 1: a brief published 17 hours before C1, past the
	// 1h grace but inside day 2's 72h look-back, and one published after C1.
	h.addBrief("stale", "lagos", "2026-11-25T12:00:00Z", "Stored-too-late headline")
	h.addBrief("day2", "lagos", "2026-11-26T18:00:00Z", "Day two headline")

	h.run("2026-11-27T05:05:00Z")
	msgs := h.inbox("r@example.com")
	if len(msgs) != 2 {
		t.Fatalf("day 2: %d messages in all, want 2", len(msgs))
	}
	all := []string{"Day one headline", "Stored-too-late headline", "Day two headline"}
	for part, body := range map[string]string{"text": msgs[1].text, "html": msgs[1].html} {
		if got, want := headlineOrder(body, all...), []string{"Day two headline"}; !slices.Equal(got, want) {
			t.Errorf("day-2 digest's %s part shows %q, want only %q: the window must start at day 1's cut-off less the grace", part, got, want)
		}
	}
	s, err := h.db.Subscriber(h.ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := mustTime(t, "2026-11-27T05:05:00Z"); !s.Watermark.Equal(want) {
		t.Errorf("watermark after day 2 = %v, want the day-2 cut-off %v", s.Watermark, want)
	}
}
