package delivery_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/delivery"
	"github.com/newsroom/digest/internal/delivery/outbox"
	"github.com/newsroom/digest/internal/sqlite"
)

// failingSettle is the real database, except that the first Settle that
// records a sent message fails, as a full disk would.
type failingSettle struct {
	*sqlite.DB
	failed atomic.Bool
}

func (s *failingSettle) Settle(ctx context.Context, now time.Time, results []outbox.Result, claims []outbox.ClaimRequest) ([][]outbox.Claim, []error, error) {
	for _, r := range results {
		if r.Status == digest.DeliverySent && s.failed.CompareAndSwap(false, true) {
			return nil, nil, errors.New("disk I/O error")
		}
	}
	return s.DB.Settle(ctx, now, results, claims)
}

// When the ledger cannot record a message the server accepted, the worker
// stops sending rather than pile up unrecorded messages, the pass says so,
// and the next pass sends that digest again with the same Message-ID:
// the reader may see two copies, never none.
func TestUnrecordedSendIsSentAgainWithTheSameMessageID(t *testing.T) {
	h := newHarnessWith(t, harnessOptions{concurrency: 1, store: func(db *sqlite.DB) delivery.Store {
		return &failingSettle{DB: db}
	}})
	h.addSubscriber("ana@example.com", "Ana", "lagos", "Africa/Lagos", "06:00")
	h.addSubscriber("bola@example.com", "Bola", "lagos", "Africa/Lagos", "06:00")
	h.addBrief("one", "lagos", "2026-11-25T18:00:00Z", "Headline one")
	at := mustTime(t, "2026-11-26T05:05:00Z")
	h.clock.Set(at)
	rep, err := h.pass.Run(h.ctx, at, delivery.RunOptions{})
	if err == nil || !strings.Contains(err.Error(), "disk I/O error") {
		t.Fatalf("Run = %v, want the recording error", err)
	}
	if n := len(h.sink.Messages()); n != 1 || rep.Count(delivery.OutcomeFailed) != 1 {
		t.Fatalf("%d messages, counts %v; want the one worker to stop after the unrecorded message", n, rep.Counts)
	}
	first := h.sink.Messages()[0]

	h.run("2026-11-26T05:10:00Z")
	copies := map[string][]string{}
	for _, m := range h.sink.Messages() {
		copies[m.To[0]] = append(copies[m.To[0]], m.MessageID())
	}
	if got := copies[first.To[0]]; len(got) != 2 || got[0] != got[1] {
		t.Errorf("%s got %v; want the unrecorded digest again with the same Message-ID", first.To[0], got)
	}
	for _, email := range []string{"ana@example.com", "bola@example.com"} {
		sub, err := h.db.SubscriberByEmail(h.ctx, email)
		if err != nil {
			t.Fatal(err)
		}
		ds, err := h.db.ListDeliveries(h.ctx, sqlite.DeliveryFilter{SubscriberID: sub.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 1 || ds[0].Status != digest.DeliverySent {
			t.Errorf("%s: deliveries %+v, want exactly one sent", email, ds)
		}
	}
}
