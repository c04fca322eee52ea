package delivery_test

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/delivery"
	"github.com/newsroom/digest/internal/smtpsink"
	"github.com/newsroom/digest/internal/sqlite/sqlitetest"
)

// The rate limit spreads sends across all workers. Only a lower bound on
// the span is checked: a slow machine can only make it longer.
func TestRateSpreadsSends(t *testing.T) {
	const n, rate = 10, 50.0
	h := newHarnessWith(t, harnessOptions{concurrency: 4, rate: rate})
	for i := range n {
		h.addSubscriber(fmt.Sprintf("r%d@example.com", i), "", "lagos", "Africa/Lagos", "06:00")
	}
	h.addBrief("one", "lagos", "2026-11-25T18:00:00Z", "Headline one")
	start := time.Now()
	h.run("2026-11-26T05:05:00Z")
	took := time.Since(start)
	if got := len(h.sink.Messages()); got != n {
		t.Fatalf("%d messages, want %d", got, n)
	}
	// A token bucket of rate r and burst 1 hands out n tokens over at least
	// (n-1)/r, and every send waits for its token inside the pass. (Arrival
	// times at the server would not do: the first message also pays for
	// the connection, which narrows the gap between first and last.)
	if floor := time.Duration(float64(n-1) / rate * float64(time.Second)); took < floor {
		t.Errorf("the pass sent %d messages in %v; at %v/s it needs at least %v", n, took, rate, floor)
	}
	t.Logf("%d messages in %v at a limit of %v/s", n, took.Round(time.Millisecond), rate)
}

// A digest that cannot be sent in time expires instead of arriving hours
// late; its briefs, never sent, come in the reader's next digest.
func TestLateDigestExpires(t *testing.T) {
	var down atomic.Bool
	h := newHarnessWith(t, harnessOptions{faults: func(ev smtpsink.Event) smtpsink.Fault {
		if down.Load() && ev.Stage == smtpsink.StageConnect {
			return smtpsink.ServiceUnavailable()
		}
		return smtpsink.Accept()
	}})
	sub := h.addSubscriber("ana@example.com", "Ana", "lagos", "Africa/Lagos", "06:00")
	h.addBrief("one", "lagos", "2026-11-25T18:00:00Z", "Headline one")
	h.run("2026-11-26T05:05:00Z") // day one goes out

	h.addBrief("two", "lagos", "2026-11-27T01:00:00Z", "Headline two")
	down.Store(true) // day two: the server turns everyone away all morning
	at := mustTime(t, "2026-11-27T05:05:00Z")
	h.clock.Set(at)
	if _, err := h.pass.Run(h.ctx, at, delivery.RunOptions{}); !errors.Is(err, delivery.ErrSMTPUnavailable) {
		t.Fatalf("Run = %v, want ErrSMTPUnavailable", err)
	}
	down.Store(false)
	rep := h.run("2026-11-27T11:30:00Z") // 12:30 in Lagos: more than 6h after 06:00
	del, err := sqlitetest.DeliveryFor(h.ctx, h.db, sub.ID, "2026-11-27")
	if err != nil {
		t.Fatal(err)
	}
	if del.Status != digest.DeliveryExpired || rep.Expired != 1 {
		t.Fatalf("day two: delivery %s, report expired %d; want expired", del.Status, rep.Expired)
	}
	if n := len(h.inbox("ana@example.com")); n != 1 {
		t.Errorf("%d messages; the expired digest must not go out", n)
	}
	h.run("2026-11-28T05:05:00Z")
	msgs := h.inbox("ana@example.com")
	if len(msgs) != 2 || !slices.Equal(headlineOrder(msgs[1].text, "Headline one", "Headline two"), []string{"Headline two"}) {
		t.Errorf("day three: %d messages; want the second to carry the expired digest's brief", len(msgs))
	}
}

// A report keeps at most MaxItems items, while its counts and the size
// of what it sent cover every reader: a pass over a million readers must
// not hold a million items.
func TestReportKeepsAtMostMaxItems(t *testing.T) {
	h := newHarness(t)
	for i := range 5 {
		h.addSubscriber(fmt.Sprintf("r%d@example.com", i), "", "lagos", "Africa/Lagos", "06:00")
	}
	h.addSubscriber("late@example.com", "", "lagos", "Africa/Lagos", "09:00")
	h.addBrief("one", "lagos", "2026-11-25T18:00:00Z", "Headline one")
	at := mustTime(t, "2026-11-26T05:05:00Z")
	h.clock.Set(at)
	rep, err := h.pass.Run(h.ctx, at, delivery.RunOptions{MaxItems: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Items) != 2 || rep.Omitted != 4 {
		t.Errorf("%d items kept, %d omitted; want 2 and 4", len(rep.Items), rep.Omitted)
	}
	if rep.Count(delivery.OutcomeSent) != 5 || rep.Count(delivery.OutcomeNotDue) != 1 || len(h.sink.Messages()) != 5 {
		t.Errorf("counts %v with %d messages; want 5 sent and 1 not due", rep.Counts, len(h.sink.Messages()))
	}
	// The five digests are alike (one brief, addresses and links of one
	// length), and the size sent counts all five, not the items kept.
	for _, it := range rep.Items {
		if it.Outcome == delivery.OutcomeSent {
			if want := int64(5 * (it.HTMLBytes + it.TextBytes)); rep.SentBytes != want || want == 0 {
				t.Errorf("SentBytes = %d, want %d (five digests of %d+%d bytes)", rep.SentBytes, want, it.HTMLBytes, it.TextBytes)
			}
			break
		}
	}
	none, err := h.pass.Run(h.ctx, at, delivery.RunOptions{MaxItems: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(none.Items) != 0 || none.Count(delivery.OutcomeAlreadySent) != 5 {
		t.Errorf("MaxItems -1: %d items, counts %v; want none kept and 5 already sent", len(none.Items), none.Counts)
	}
}
