package delivery_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/delivery"
	"github.com/newsroom/digest/internal/smtpsink"
	"github.com/newsroom/digest/internal/sqlite"
	"github.com/newsroom/digest/internal/sqlite/sqlitetest"
)

// TestFaultMatrix drives one reader through each way an SMTP server can
// refuse or break, with a second reader the server always accepts, and runs
// passes (the clock 40 minutes later each time, past any backoff) until
// nothing is left to do. For each fault: the reader's final state and
// attempts, how many copies reached the server (and with which
// Message-IDs), whether the reader was blamed, and that the other reader
// got exactly one digest.
func TestFaultMatrix(t *testing.T) {
	const reader = "r@example.com"
	reply := smtpsink.Reply
	tests := []struct {
		name        string
		stage       smtpsink.Stage
		script      smtpsink.Script
		wantStatus  digest.DeliveryStatus
		wantTries   int
		wantCopies  int // messages the server kept for the reader
		wantBounced bool
		wantAlert   bool // logged as an operator alert
	}{
		{"421 at RCPT, once", smtpsink.StageRcpt, smtpsink.FailFirst(1, reply(421, "4.3.2", "closing")), digest.DeliverySent, 2, 1, false, false},
		{"450 mailbox busy, once", smtpsink.StageRcpt, smtpsink.FailFirst(1, reply(450, "4.2.1", "mailbox busy")), digest.DeliverySent, 2, 1, false, false},
		{"451 local error, twice", smtpsink.StageRcpt, smtpsink.FailFirst(2, reply(451, "4.3.0", "try later")), digest.DeliverySent, 3, 1, false, false},
		{"452 out of storage at DATA, once", smtpsink.StageDataEnd, smtpsink.FailFirst(1, reply(452, "4.3.1", "no space")), digest.DeliverySent, 2, 1, false, false},
		{"454 TLS not available, once", smtpsink.StageRcpt, smtpsink.FailFirst(1, reply(454, "4.7.0", "try later")), digest.DeliverySent, 2, 1, false, false},
		{"451 forever: out of attempts", smtpsink.StageRcpt, smtpsink.Always(reply(451, "4.3.0", "try later")), digest.DeliveryFailed, 3, 0, false, false},
		{"550 5.1.1 no such user", smtpsink.StageRcpt, smtpsink.Always(reply(550, "5.1.1", "no such user")), digest.DeliveryFailed, 1, 0, true, false},
		{"552 5.2.2 mailbox full", smtpsink.StageDataEnd, smtpsink.Always(reply(552, "5.2.2", "mailbox full")), digest.DeliveryFailed, 1, 0, true, false},
		{"554 5.7.1 policy: not the reader's fault", smtpsink.StageDataEnd, smtpsink.Always(reply(554, "5.7.1", "rejected by policy")), digest.DeliveryFailed, 1, 0, false, true},
		{"552 5.3.4 too big: another 5xx, not the reader's fault", smtpsink.StageDataEnd, smtpsink.Always(reply(552, "5.3.4", "message too big")), digest.DeliveryFailed, 1, 0, false, false},
		{"550 without an enhanced code", smtpsink.StageRcpt, smtpsink.Always(reply(550, "", "no")), digest.DeliveryFailed, 1, 0, false, false},
		{"connection dropped during DATA, once", smtpsink.StageData, smtpsink.FailFirst(1, smtpsink.Drop()), digest.DeliverySent, 2, 1, false, false},
		{"accepted, then dropped before the reply, once", smtpsink.StageDataEnd, smtpsink.FailFirst(1, smtpsink.DropAfterAccept()), digest.DeliverySent, 2, 2, false, false},
		{"server stalls past the timeout, once", smtpsink.StageDataEnd, smtpsink.FailFirst(1, smtpsink.Stall()), digest.DeliverySent, 2, 1, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarnessWith(t, harnessOptions{
				faults:      smtpsink.At(tt.stage, reader, tt.script),
				timeout:     time.Second, // so a stall is a timeout, not a hang
				maxAttempts: 3,
			})
			sub := h.addSubscriber(reader, "R", "lagos", "Africa/Lagos", "06:00")
			other := h.addSubscriber("ok@example.com", "OK", "lagos", "Africa/Lagos", "06:00")
			h.addBrief("one", "lagos", "2026-11-25T18:00:00Z", "Headline one")

			at := mustTime(t, "2026-11-26T05:05:00Z")
			for pass := 0; pass < 6; pass++ {
				h.run(at.Format(time.RFC3339))
				q, err := sqlitetest.CountDeliveries(h.ctx, h.db, "")
				if err != nil {
					t.Fatal(err)
				}
				if q[digest.DeliveryQueued]+q[digest.DeliveryDeferred] == 0 {
					break
				}
				at = at.Add(40 * time.Minute)
			}

			del, err := sqlitetest.DeliveryFor(h.ctx, h.db, sub.ID, "2026-11-26")
			if err != nil {
				t.Fatal(err)
			}
			if del.Status != tt.wantStatus || del.Attempts != tt.wantTries {
				t.Errorf("reader's delivery: %s after %d attempts (%q); want %s after %d", del.Status, del.Attempts, del.Error, tt.wantStatus, tt.wantTries)
			}
			copies := 0
			for _, m := range h.sink.Messages() {
				if len(m.To) == 1 && m.To[0] == reader {
					copies++
					if got := m.MessageID(); got != del.MessageID {
						t.Errorf("a copy carries Message-ID %q, want the delivery's %q", got, del.MessageID)
					}
				}
			}
			if copies != tt.wantCopies {
				t.Errorf("server kept %d copies for the reader, want %d", copies, tt.wantCopies)
			}
			s, _ := h.db.Subscriber(h.ctx, sub.ID)
			if bounced := s.Status == digest.StatusBounced; bounced != tt.wantBounced {
				t.Errorf("reader status %s; bounced = %v, want %v", s.Status, bounced, tt.wantBounced)
			}
			if d, err := sqlitetest.DeliveryFor(h.ctx, h.db, other.ID, "2026-11-26"); err != nil || d.Status != digest.DeliverySent || len(h.inbox("ok@example.com")) != 1 {
				t.Errorf("the other reader: %+v, %v, %d messages; want one sent", d, err, len(h.inbox("ok@example.com")))
			}
			if alert := strings.Contains(h.logs.String(), "alert=true"); alert != tt.wantAlert {
				t.Errorf("operator alert logged = %v, want %v", alert, tt.wantAlert)
			}
			evs, err := h.db.DeliveryEvents(h.ctx, del.ID)
			if err != nil || len(evs) < 2*tt.wantTries {
				t.Errorf("events %v, %v: want a claim and an outcome per attempt", evs, err)
			}
		})
	}
}

// A server that does not offer STARTTLS to a sender that requires it is a
// configuration problem: the pass stops without charging anyone an attempt,
// and a pass with the right settings delivers everything.
func TestTLSRequiredButNotOffered(t *testing.T) {
	h := newHarnessWith(t, harnessOptions{tls: "starttls"})
	for i := range 3 {
		h.addSubscriber(fmt.Sprintf("r%d@example.com", i), "", "lagos", "Africa/Lagos", "06:00")
	}
	h.addBrief("one", "lagos", "2026-11-25T18:00:00Z", "Headline one")
	h.clock.Set(mustTime(t, "2026-11-26T05:05:00Z"))
	_, err := h.pass.Run(h.ctx, mustTime(t, "2026-11-26T05:05:00Z"), delivery.RunOptions{})
	if !errors.Is(err, delivery.ErrSMTPUnavailable) {
		t.Fatalf("Run = %v, want ErrSMTPUnavailable", err)
	}
	if n := len(h.sink.Messages()); n != 0 {
		t.Fatalf("%d messages went out in plain text", n)
	}
	counts, _ := sqlitetest.CountDeliveries(h.ctx, h.db, "")
	if counts[digest.DeliveryQueued] != 3 {
		t.Errorf("deliveries %v, want all 3 still queued", counts)
	}
	for _, d := range mustList(t, h) {
		if d.Attempts != 0 {
			t.Errorf("delivery %d charged %d attempts for a server it never reached", d.ID, d.Attempts)
		}
	}
}

func mustList(t *testing.T, h *harness) []digest.Delivery {
	t.Helper()
	subs, err := h.db.ListSubscribers(h.ctx, sqlite.SubscriberFilter{Status: digest.StatusActive})
	if err != nil {
		t.Fatal(err)
	}
	var out []digest.Delivery
	for _, s := range subs {
		d, err := sqlitetest.DeliveryFor(h.ctx, h.db, s.ID, "2026-11-26")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// A pass decides on its own instant, not on the clock that measures it: run
// as of a morning a month before that clock, a 451 is deferred with the
// configured backoff (not given up for being past the retry window), a
// pass forty minutes later retries it, and the times recorded are the
// passes' own.
func TestPassClockIsItsInstant(t *testing.T) {
	const reader = "r@example.com"
	h := newHarnessWith(t, harnessOptions{
		faults: smtpsink.At(smtpsink.StageRcpt, reader, smtpsink.FailFirst(1, smtpsink.Reply(451, "4.3.0", "try later"))),
	})
	sub := h.addSubscriber(reader, "R", "lagos", "Africa/Lagos", "06:00")
	h.addBrief("one", "lagos", "2026-11-25T18:00:00Z", "Headline one")
	first := mustTime(t, "2026-11-26T05:05:00Z")
	h.clock.Set(first.Add(30 * 24 * time.Hour)) // the measuring clock, a month on

	rep, err := h.pass.Run(h.ctx, first, delivery.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d, err := sqlitetest.DeliveryFor(h.ctx, h.db, sub.ID, "2026-11-26")
	if err != nil {
		t.Fatal(err)
	}
	if rep.Count(delivery.OutcomeDeferred) != 1 || d.Status != digest.DeliveryDeferred || d.Attempts != 1 {
		t.Fatalf("first pass: %v; delivery %s after %d attempts (%q); want deferred after 1", rep.Counts, d.Status, d.Attempts, d.Error)
	}
	if lo, hi := first.Add(48*time.Second), first.Add(72*time.Second); d.NextAttemptAt.Before(lo) || d.NextAttemptAt.After(hi) {
		t.Errorf("next attempt at %v, want RetryBase (a minute ±20%%) after %v", d.NextAttemptAt, first)
	}

	second := first.Add(40 * time.Minute)
	if rep, err = h.pass.Run(h.ctx, second, delivery.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	if d, err = sqlitetest.DeliveryFor(h.ctx, h.db, sub.ID, "2026-11-26"); err != nil {
		t.Fatal(err)
	}
	if rep.Count(delivery.OutcomeSent) != 1 || d.Status != digest.DeliverySent || d.Attempts != 2 || !d.SentAt.Equal(second) {
		t.Errorf("second pass: %v; delivery %s after %d attempts, sent at %v; want sent after 2 at %v",
			rep.Counts, d.Status, d.Attempts, d.SentAt, second)
	}
	msgs := h.inbox(reader)
	if len(msgs) != 1 {
		t.Fatalf("%d messages for the reader, want 1", len(msgs))
	}
	if date, err := msgs[0].header.Date(); err != nil || !date.Equal(second) {
		t.Errorf("message dated %v (%v), want the pass's instant %v", date, err, second)
	}
}
