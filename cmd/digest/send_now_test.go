package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/smtpsink"
	"github.com/newsroom/digest/internal/sqlite"
)

// `digest send --now T` decides as a pass at T would, whatever the wall
// clock says: a 451 at T is deferred with the configured backoff (not given
// up for being hours past the reader's send time on the wall clock), the
// next pass retries it, and what they record is stamped on their clocks.
func TestSendNowIsThePassClock(t *testing.T) {
	c := newCLI(t)
	sink, err := smtpsink.Start(context.Background(), smtpsink.Options{
		Addr:   "127.0.0.1:0",
		Faults: smtpsink.At(smtpsink.StageRcpt, "ada@example.com", smtpsink.FailFirst(1, smtpsink.Reply(451, "4.3.0", "try later"))),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	cfg := c.config(sink, "127.0.0.1:18080")
	c.write("briefs/one.md", briefWith("one", "lagos", "2026-11-25T18:00:00Z"))
	for _, args := range [][]string{
		{"briefs", "import", filepath.Join(c.dir, "briefs")},
		{"subscribers", "add", "ada@example.com", "--regions", "lagos", "--send-time", "06:00"},
	} {
		if code, _, stderr := c.run(append([]string{"--config", cfg}, args...)...); code != 0 {
			t.Fatal(stderr)
		}
	}
	first, second := time.Date(2026, 11, 26, 5, 30, 0, 0, time.UTC), time.Date(2026, 11, 26, 6, 10, 0, 0, time.UTC)
	if time.Since(first) < 24*time.Hour {
		t.Skip("the wall clock must be well past the pass instants for this test to mean anything")
	}

	code, stdout, stderr := c.run("--config", cfg, "send", "--now", first.Format(time.RFC3339))
	if code != 1 || !strings.Contains(stdout, "sent 0, deferred 1, failed 0") {
		t.Fatalf("first pass: exit %d, want 1 with the digest deferred\n%s%s", code, stdout, stderr)
	}
	d, events := onlyDelivery(t, c)
	if d.Status != digest.DeliveryDeferred || d.Attempts != 1 {
		t.Fatalf("after the 451: %s after %d attempts (%q), want deferred after 1", d.Status, d.Attempts, d.Error)
	}
	// retry_base is a minute, spread by ±20%.
	if lo, hi := first.Add(48*time.Second), first.Add(72*time.Second+time.Second); d.NextAttemptAt.Before(lo) || d.NextAttemptAt.After(hi) {
		t.Errorf("next attempt at %v, want a minute or so after %v", d.NextAttemptAt, first)
	}
	for _, ev := range events {
		if ev.At.Before(first) || ev.At.After(first.Add(time.Minute)) {
			t.Errorf("event %s→%s at %v, want it stamped on the pass's clock (%v)", ev.From, ev.To, ev.At, first)
		}
	}

	code, stdout, stderr = c.run("--config", cfg, "send", "--now", second.Format(time.RFC3339))
	if code != 0 || !strings.Contains(stdout, "sent 1, deferred 0, failed 0") {
		t.Fatalf("second pass: exit %d, want the digest sent\n%s%s", code, stdout, stderr)
	}
	d, _ = onlyDelivery(t, c)
	if d.Status != digest.DeliverySent || d.Attempts != 2 || d.SentAt.Before(second) || d.SentAt.After(second.Add(time.Minute)) {
		t.Errorf("after the retry: %s after %d attempts, sent at %v; want sent after 2, at %v", d.Status, d.Attempts, d.SentAt, second)
	}
	if n := len(sink.Messages()); n != 1 {
		t.Errorf("the server kept %d messages, want 1", n)
	}
}

// onlyDelivery returns the one delivery in the CLI's database, with its
// events.
func onlyDelivery(t *testing.T, c *cli) (digest.Delivery, []digest.DeliveryEvent) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(c.dir, "digest.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ds, err := db.ListDeliveries(ctx, sqlite.DeliveryFilter{})
	if err != nil || len(ds) != 1 {
		t.Fatalf("deliveries %+v, %v; want one", ds, err)
	}
	evs, err := db.DeliveryEvents(ctx, ds[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	return ds[0], evs
}
