package delivery_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/delivery"
	"github.com/newsroom/digest/internal/sqlite"
	"github.com/newsroom/digest/internal/sqlite/sqlitetest"
)

func TestRegionSelectionAndOrder(t *testing.T) {
	h := newHarness(t)
	h.addBrief("dc-early", "dc", "2026-11-25T14:00:00Z", "DC early headline")
	h.addBrief("dc-late", "dc", "2026-11-25T20:00:00Z", "DC late headline")
	h.addBrief("bxl-one", "bxl", "2026-11-25T16:00:00Z", "Brussels headline")
	h.addBrief("lagos-one", "lagos", "2026-11-25T18:00:00Z", "Lagos headline")
	h.addBrief("sg-one", "sg", "2026-11-25T22:00:00Z", "Singapore headline")
	all := []string{"DC early headline", "DC late headline", "Brussels headline", "Lagos headline", "Singapore headline"}

	h.addSubscriber("ana@example.com", "Ana", "lagos,dc", "Africa/Lagos", "06:00")
	h.addSubscriber("ben@example.com", "Ben", "dc,bxl,lagos", "Europe/Brussels", "06:00")
	h.addSubscriber("cy@example.com", "Cy", "sg", "Asia/Singapore", "06:00")
	h.addSubscriber("dee@example.com", "Dee", "riyadh", "Asia/Riyadh", "06:00") // nothing in riyadh

	rep := h.run("2026-11-26T10:00:00Z") // past 06:00 everywhere above
	if got := rep.Count(delivery.OutcomeSent); got != 3 {
		t.Fatalf("sent %d digests, want 3: %+v", got, rep)
	}
	if got := rep.Count(delivery.OutcomeNothingNew); got != 1 {
		t.Errorf("nothing-new = %d, want 1 (dee has no riyadh briefs)", got)
	}

	want := map[string][]string{
		"ana@example.com": {"Lagos headline", "DC late headline", "DC early headline"},
		"ben@example.com": {"DC late headline", "DC early headline", "Brussels headline", "Lagos headline"},
		"cy@example.com":  {"Singapore headline"},
	}
	for addr, order := range want {
		msgs := h.inbox(addr)
		if len(msgs) != 1 {
			t.Fatalf("%s received %d messages, want 1", addr, len(msgs))
		}
		for part, body := range map[string]string{"text": msgs[0].text, "html": msgs[0].html} {
			if got := headlineOrder(body, all...); !slices.Equal(got, order) {
				t.Errorf("%s %s part shows %q, want exactly %q in that order", addr, part, got, order)
			}
		}
	}
	if got := h.inbox("dee@example.com"); len(got) != 0 {
		t.Errorf("dee got %d messages; a reader with nothing new must get none", len(got))
	}

	// The ledger records the briefs in the order the reader saw them.
	ana, err := h.db.SubscriberByEmail(h.ctx, "ana@example.com")
	if err != nil {
		t.Fatal(err)
	}
	del, err := sqlitetest.DeliveryFor(h.ctx, h.db, ana.ID, "2026-11-26")
	if err != nil {
		t.Fatal(err)
	}
	var slugs []string
	bs, err := h.db.BriefsByID(h.ctx, del.BriefIDs)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		slugs = append(slugs, b.Slug)
	}
	if want := []string{"lagos-one", "dc-late", "dc-early"}; !slices.Equal(slugs, want) {
		t.Errorf("delivery carries %v, want %v", slugs, want)
	}
	if del.Status != digest.DeliverySent || del.SentAt.IsZero() {
		t.Errorf("delivery status %s sent_at %v, want sent with a time", del.Status, del.SentAt)
	}
}

func TestWatermark(t *testing.T) {
	h := newHarness(t)
	h.addSubscriber("ana@example.com", "Ana", "lagos", "Africa/Lagos", "06:00")
	h.addBrief("day1", "lagos", "2026-11-25T18:00:00Z", "Day one headline")

	h.run("2026-11-26T05:05:00Z") // 06:05 in Lagos
	if n := len(h.inbox("ana@example.com")); n != 1 {
		t.Fatalf("first pass: %d messages, want 1", n)
	}

	// Same local day: a new brief arrives, but the day's digest has gone.
	h.addBrief("day1-late", "lagos", "2026-11-26T09:00:00Z", "Late on day one")
	rep := h.run("2026-11-26T10:00:00Z")
	if n := len(h.inbox("ana@example.com")); n != 1 {
		t.Fatalf("second pass on the same local day: %d messages, want still 1", n)
	}
	if rep.Count(delivery.OutcomeAlreadySent) != 1 {
		t.Errorf("report: %+v, want already-sent", rep.Items)
	}

	// Next day: only what is newer than the first digest's cut-off.
	h.addBrief("day2", "lagos", "2026-11-27T03:00:00Z", "Day two headline")
	h.run("2026-11-27T05:05:00Z")
	msgs := h.inbox("ana@example.com")
	if len(msgs) != 2 {
		t.Fatalf("next day: %d messages in all, want 2", len(msgs))
	}
	got := headlineOrder(msgs[1].text, "Day one headline", "Late on day one", "Day two headline")
	if want := []string{"Day two headline", "Late on day one"}; !slices.Equal(got, want) {
		t.Errorf("second digest shows %q, want %q (and never the first digest's brief)", got, want)
	}

	// Third day, nothing new: no email.
	rep = h.run("2026-11-28T05:05:00Z")
	if n := len(h.inbox("ana@example.com")); n != 2 {
		t.Errorf("day with nothing new: %d messages in all, want still 2", n)
	}
	if rep.Count(delivery.OutcomeNothingNew) != 1 {
		t.Errorf("report: %+v, want nothing-new", rep.Items)
	}
}

// A brief published before a reader's digest went out but stored only
// afterwards (an import that ran late) reaches them in the next digest,
// within the grace period; one older than that does not.
func TestLateStoredBriefIsNotLost(t *testing.T) {
	h := newHarness(t)
	h.addSubscriber("ana@example.com", "Ana", "lagos", "Africa/Lagos", "06:00")
	h.addBrief("early", "lagos", "2026-11-25T18:00:00Z", "Early headline")
	h.run("2026-11-26T05:00:00Z") // 06:00 in Lagos: cut-off 05:00Z

	h.addBrief("late", "lagos", "2026-11-26T04:58:00Z", "Late-stored headline")      // 2 minutes before the cut-off
	h.addBrief("stale", "lagos", "2026-11-25T20:00:00Z", "Too-late-stored headline") // 9 hours before: past the grace
	h.addBrief("next", "lagos", "2026-11-26T18:00:00Z", "Next headline")
	h.run("2026-11-27T05:00:00Z")

	msgs := h.inbox("ana@example.com")
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(msgs))
	}
	all := []string{"Early headline", "Late-stored headline", "Too-late-stored headline", "Next headline"}
	if got, want := headlineOrder(msgs[1].text, all...), []string{"Next headline", "Late-stored headline"}; !slices.Equal(got, want) {
		t.Errorf("second digest shows %q, want %q", got, want)
	}
}

// TestLocalSendTimeAcrossDST ticks every 5 minutes through both US DST
// transition days, as the daemon would, and checks every reader got exactly
// one digest per local day, at the first tick at or after their send time.
func TestLocalSendTimeAcrossDST(t *testing.T) {
	h := newHarness(t)
	readers := []struct{ email, regions, zone, at string }{
		{"ny@example.com", "dc", "America/New_York", "06:00"},
		{"ny-gap@example.com", "dc", "America/New_York", "02:30"},   // does not exist on 8 March
		{"ny-twice@example.com", "dc", "America/New_York", "01:30"}, // happens twice on 1 November
		{"sg@example.com", "sg,dc", "Asia/Singapore", "07:30"},
		{"lagos@example.com", "lagos,dc", "Africa/Lagos", "06:00"},
	}
	for _, r := range readers {
		h.addSubscriber(r.email, "", r.regions, r.zone, r.at)
	}

	for _, window := range []struct{ from, to string }{
		{"2026-03-06T12:00:00Z", "2026-03-10T12:00:00Z"}, // spring forward: 8 March
		{"2026-10-30T12:00:00Z", "2026-11-03T12:00:00Z"}, // fall back: 1 November
	} {
		from, to := mustTime(t, window.from), mustTime(t, window.to)
		// A brief in every region every three hours, so nobody ever has nothing new.
		for at := from.Add(-24 * time.Hour); !at.After(to); at = at.Add(3 * time.Hour) {
			for _, reg := range []string{"dc", "sg", "lagos"} {
				h.addBrief(fmt.Sprintf("%s-%d", reg, at.Unix()), reg, at.Format(time.RFC3339), "Brief "+reg+" "+at.Format(time.RFC3339))
			}
		}
		sentAt := map[string][]time.Time{}
		for now := from; now.Before(to); now = now.Add(5 * time.Minute) {
			rep, err := h.pass.Run(h.ctx, now, delivery.RunOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range rep.Items {
				if it.Outcome == delivery.OutcomeFailed {
					t.Fatalf("%s at %v: %v", it.Subscriber.Email, now, it.Err)
				}
				if it.Outcome == delivery.OutcomeSent {
					sentAt[it.Subscriber.Email] = append(sentAt[it.Subscriber.Email], now)
				}
			}
		}
		for _, r := range readers {
			loc, _ := time.LoadLocation(r.zone)
			want, _ := digest.ParseTimeOfDay(r.at)
			days := map[digest.Date]int{}
			for _, at := range sentAt[r.email] {
				local := at.In(loc)
				days[digest.DateOf(local)]++
				y, m, d := local.Date()
				due := want.On(y, m, d, loc)
				if due.Before(from) {
					continue // already due when the window opened: sent at once, as a restarted daemon catches up
				}
				if at.Before(due) || !at.Before(due.Add(5*time.Minute)) {
					t.Errorf("%s: sent at %s local, want the first tick at or after %s (%s)", r.email, local.Format("2006-01-02 15:04 MST"), r.at, due.Format("15:04 MST"))
				}
			}
			// Every local day wholly inside the window has exactly one digest.
			for day := from.In(loc).AddDate(0, 0, 1); day.AddDate(0, 0, 1).Before(to.In(loc)); day = day.AddDate(0, 0, 1) {
				if n := days[digest.DateOf(day)]; n != 1 {
					t.Errorf("%s: %d digests on local day %s, want exactly 1", r.email, n, digest.DateOf(day))
				}
			}
		}
	}
	// The readers whose time is in the gap or the fold were sent on those days.
	ny, _ := time.LoadLocation("America/New_York")
	for _, c := range []struct {
		email string
		day   digest.Date
		local string
	}{
		{"ny-gap@example.com", "2026-03-08", "03:30 EDT"},
		{"ny-twice@example.com", "2026-11-01", "01:30 EDT"},
	} {
		sub, err := h.db.SubscriberByEmail(h.ctx, c.email)
		if err != nil {
			t.Fatal(err)
		}
		del, err := sqlitetest.DeliveryFor(h.ctx, h.db, sub.ID, c.day)
		if err != nil {
			t.Fatalf("%s on %s: %v", c.email, c.day, err)
		}
		if got := del.Cutoff.In(ny).Format("15:04 MST"); got != c.local {
			t.Errorf("%s on %s was sent at %s, want %s", c.email, c.day, got, c.local)
		}
	}
}

func TestDryRunSendsAndRecordsNothing(t *testing.T) {
	h := newHarness(t)
	sub := h.addSubscriber("ana@example.com", "Ana", "lagos", "Africa/Lagos", "06:00")
	h.addBrief("one", "lagos", "2026-11-25T18:00:00Z", "Headline one")
	rep, err := h.pass.Run(h.ctx, mustTime(t, "2026-11-26T08:00:00Z"), delivery.RunOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Count(delivery.OutcomeSent) != 1 || rep.Items[0].HTMLBytes == 0 {
		t.Fatalf("dry run report %+v, want one rendered digest", rep.Items)
	}
	if n := len(h.sink.Messages()); n != 0 {
		t.Errorf("dry run sent %d messages", n)
	}
	if _, err := sqlitetest.DeliveryFor(h.ctx, h.db, sub.ID, "2026-11-26"); !errors.Is(err, digest.ErrNotFound) {
		t.Errorf("dry run recorded a delivery: err = %v", err)
	}
	// The real pass afterwards still sends, the digest the dry run
	// rendered.
	real := h.run("2026-11-26T08:05:00Z")
	if n := len(h.inbox("ana@example.com")); n != 1 {
		t.Fatalf("pass after dry run sent %d, want 1", n)
	}
	dry, sent := rep.Items[0], real.Items[0]
	if dry.Subject != sent.Subject || dry.HTMLBytes != sent.HTMLBytes || dry.TextBytes != sent.TextBytes {
		t.Errorf("dry run rendered %q (%d, %d bytes), the pass sent %q (%d, %d bytes)",
			dry.Subject, dry.HTMLBytes, dry.TextBytes, sent.Subject, sent.HTMLBytes, sent.TextBytes)
	}
}

// A send refused for now (4xx) stays queued, leaves the watermark alone and
// is retried by the next pass with the same Message-ID.
func TestDeferredSendIsRetriedWithSameMessageID(t *testing.T) {
	h := newHarness(t)
	sub := h.addSubscriber("ana@example.com", "Ana", "lagos", "Africa/Lagos", "06:00")
	h.addBrief("one", "lagos", "2026-11-25T18:00:00Z", "Headline one")
	h.reject.Store(func(to string) error {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
	})
	rep := h.run("2026-11-26T05:05:00Z")
	if rep.Count(delivery.OutcomeDeferred) != 1 {
		t.Fatalf("report %+v, want one deferred", rep.Items)
	}
	del, err := sqlitetest.DeliveryFor(h.ctx, h.db, sub.ID, "2026-11-26")
	if err != nil {
		t.Fatal(err)
	}
	if del.Status != digest.DeliveryDeferred || del.Attempts != 1 || !strings.Contains(del.Error, "451") ||
		!del.NextAttemptAt.After(mustTime(t, "2026-11-26T05:05:00Z")) {
		t.Errorf("after a 451: status %s attempts %d next %v error %q", del.Status, del.Attempts, del.NextAttemptAt, del.Error)
	}
	s, err := h.db.Subscriber(h.ctx, sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Watermark.IsZero() {
		t.Errorf("watermark moved to %v after a refused send", s.Watermark)
	}

	h.reject.Store(func(string) error { return nil })
	h.run("2026-11-26T05:10:00Z")
	msgs := h.inbox("ana@example.com")
	if len(msgs) != 1 {
		t.Fatalf("after retry: %d messages, want 1", len(msgs))
	}
	if got := msgs[0].header.Get("Message-Id"); got != del.MessageID {
		t.Errorf("retry Message-ID %q, want the delivery's %q", got, del.MessageID)
	}
	del, _ = sqlitetest.DeliveryFor(h.ctx, h.db, sub.ID, "2026-11-26")
	if del.Status != digest.DeliverySent || del.Attempts != 2 || del.Error != "" {
		t.Errorf("after retry: status %s attempts %d error %q", del.Status, del.Attempts, del.Error)
	}
}

// A send refused for good (5xx) is failed and not retried by later passes
// that day; other readers are unaffected.
func TestPermanentFailureIsNotRetried(t *testing.T) {
	h := newHarness(t)
	gone := h.addSubscriber("gone@example.com", "Gone", "lagos", "Africa/Lagos", "06:00")
	h.addSubscriber("ben@example.com", "Ben", "lagos", "Africa/Lagos", "06:00")
	h.addBrief("one", "lagos", "2026-11-25T18:00:00Z", "Headline one")
	h.reject.Store(func(to string) error {
		if to == "gone@example.com" {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return nil
	})
	rep := h.run("2026-11-26T05:05:00Z")
	if rep.Count(delivery.OutcomeFailed) != 1 || rep.Count(delivery.OutcomeSent) != 1 {
		t.Fatalf("report %+v, want one failed and one sent", rep.Items)
	}
	del, err := sqlitetest.DeliveryFor(h.ctx, h.db, gone.ID, "2026-11-26")
	if err != nil {
		t.Fatal(err)
	}
	if del.Status != digest.DeliveryFailed || !strings.Contains(del.Error, "5.1.1") {
		t.Errorf("after a 550: status %s error %q", del.Status, del.Error)
	}
	if s, _ := h.db.Subscriber(h.ctx, gone.ID); s.Status != digest.StatusBounced {
		t.Errorf("after 550 5.1.1 the subscriber is %s, want bounced", s.Status)
	}
	rep = h.run("2026-11-26T05:10:00Z")
	if rep.Count(delivery.OutcomeAlreadySent) != 1 || len(rep.Items) != 1 {
		t.Errorf("second pass %+v, want only ben's already-sent", rep.Items)
	}
	if del2, _ := sqlitetest.DeliveryFor(h.ctx, h.db, gone.ID, "2026-11-26"); del2.Attempts != 1 || del2.Status != digest.DeliveryFailed {
		t.Errorf("a permanently refused digest: %+v", del2)
	}
}

// An SMTP server that cannot be reached stops the pass at the first reader
// instead of timing out once per reader; the rest wait for the next pass.
func TestUnreachableServerStopsThePass(t *testing.T) {
	h := newHarness(t)
	a := h.addSubscriber("a@example.com", "", "lagos", "Africa/Lagos", "06:00")
	b := h.addSubscriber("b@example.com", "", "lagos", "Africa/Lagos", "06:00")
	h.addBrief("one", "lagos", "2026-11-25T18:00:00Z", "Headline one")
	h.sink.Close()
	rep, err := h.pass.Run(h.ctx, mustTime(t, "2026-11-26T05:05:00Z"), delivery.RunOptions{})
	if !errors.Is(err, delivery.ErrSMTPUnavailable) {
		t.Fatalf("Run = %v, want ErrSMTPUnavailable", err)
	}
	if rep.Count(delivery.OutcomeSent) != 0 || rep.Count(delivery.OutcomeDeferred) == 0 {
		t.Errorf("report %+v, want deferrals and nothing sent", rep.Items)
	}
	// Nothing reached a server, so nothing is charged to the readers: both
	// deliveries wait, queued with no attempt counted, for the next pass.
	for _, s := range []digest.Subscriber{a, b} {
		del, err := sqlitetest.DeliveryFor(h.ctx, h.db, s.ID, "2026-11-26")
		if err != nil || del.Status != digest.DeliveryQueued || del.Attempts != 0 {
			t.Errorf("%s: %+v, %v; want queued with 0 attempts", s.Email, del, err)
		}
	}
}

// Subscribers who are not active get nothing.
func TestOnlyActiveSubscribersAreSent(t *testing.T) {
	h := newHarness(t)
	h.addBrief("one", "lagos", "2026-11-25T18:00:00Z", "Headline one")
	for _, st := range []digest.SubscriberStatus{digest.StatusPending, digest.StatusUnsubscribed, digest.StatusBounced} {
		s := digest.Subscriber{Email: string(st) + "@example.com", Regions: []string{"lagos"}, TimeZone: "Africa/Lagos",
			SendTime: digest.TimeOfDay{Hour: 6}, Status: st}
		if err := h.db.CreateSubscriber(h.ctx, &s); err != nil {
			t.Fatal(err)
		}
	}
	h.run("2026-11-26T08:00:00Z")
	if n := len(h.sink.Messages()); n != 0 {
		t.Errorf("%d messages sent to non-active subscribers", n)
	}
	subs, err := h.db.ListSubscribers(h.ctx, sqlite.SubscriberFilter{})
	if err != nil || len(subs) != 3 {
		t.Fatalf("list: %v, %d subscribers", err, len(subs))
	}
}
