package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
)

// markPlannedSent records d as sent at its cut-off, moving the watermark, as a
// worker would once the SMTP server accepted it.
func markPlannedSent(t *testing.T, db *DB, d digest.Delivery) {
	t.Helper()
	ctx := context.Background()
	if err := db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = 'sent', sent_at = cutoff WHERE id = ?`, d.ID)
		if err == nil {
			_, err = tx.ExecContext(ctx, `UPDATE subscribers SET watermark = ? WHERE id = ?`, formatTime(d.Cutoff), d.SubscriberID)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func TestActivePage(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	var active []digest.Subscriber
	for i := range 7 {
		sub := sampleSubscriber(fmt.Sprintf("r%d@example.com", i), []string{"sg", "lagos", "dc"}[i%3:]...)
		if i == 2 || i == 5 {
			sub.Status = digest.StatusUnsubscribed
		}
		sub = mustCreateSubscriber(t, db, sub)
		if sub.Status == digest.StatusActive {
			active = append(active, sub)
		}
	}
	d := mustCreateDelivery(t, db, sampleDelivery(active[1].ID, "2026-03-01", at(7, 30)))
	markPlannedSent(t, db, d)

	var got []digest.Subscriber
	var cursor int64
	pages := 0
	for {
		page, err := db.ActivePage(ctx, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(page) == 0 {
			break
		}
		if len(page) > 2 {
			t.Fatalf("page of %d, want at most 2", len(page))
		}
		got = append(got, page...)
		cursor = page[len(page)-1].ID
	}
	if pages != 4 {
		t.Errorf("%d pages for 5 active readers, want 4 (the last one empty)", pages)
	}
	if len(got) != len(active) {
		t.Fatalf("got %d readers, want the %d active ones", len(got), len(active))
	}
	for i, s := range got {
		w := active[i]
		if s.ID != w.ID || s.Email != w.Email || s.Name != w.Name || s.TimeZone != w.TimeZone ||
			s.SendTime != w.SendTime || s.Status != digest.StatusActive || !slices.Equal(s.Regions, w.Regions) {
			t.Errorf("reader %d = %+v, want %+v", i, s, w)
		}
	}
	if !got[1].Watermark.Equal(at(7, 30)) || !got[0].Watermark.IsZero() {
		t.Errorf("watermarks %v, %v; want zero and the sent digest's cut-off", got[0].Watermark, got[1].Watermark)
	}
}

func TestRecentDeliveries(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	b1 := mustUpsertBrief(t, db, sampleBrief("one", "lagos", at(1, 0))).ID
	b2 := mustUpsertBrief(t, db, sampleBrief("two", "lagos", at(2, 0))).ID
	ana := mustCreateSubscriber(t, db, sampleSubscriber("ana@example.com", "lagos")).ID
	ben := mustCreateSubscriber(t, db, sampleSubscriber("ben@example.com", "lagos")).ID
	cy := mustCreateSubscriber(t, db, sampleSubscriber("cy@example.com", "lagos")).ID

	day := func(n int) time.Time { return at(7, 0).AddDate(0, 0, n) }
	old := mustCreateDelivery(t, db, sampleDelivery(ana, "2026-02-27", day(-2), b1))        // sent, cut off too early
	recent := mustCreateDelivery(t, db, sampleDelivery(ana, "2026-02-28", day(-1), b1, b2)) // sent, counts
	benToday := mustCreateDelivery(t, db, sampleDelivery(ben, "2026-03-01", day(0), b1))    // queued, today
	today := mustCreateDelivery(t, db, sampleDelivery(ana, "2026-03-01", day(0), b2))       // queued, today
	markPlannedSent(t, db, old)
	markPlannedSent(t, db, recent)
	mustCreateDelivery(t, db, sampleDelivery(cy, "2026-03-01", day(0), b1)) // not asked for

	ds, err := db.RecentDeliveries(ctx, []int64{ana, ben}, "2026-03-01", day(-1).Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, d := range ds {
		ids = append(ids, d.ID)
		switch d.ID {
		case recent.ID:
			if d.Status != digest.DeliverySent || !slices.Equal(d.BriefIDs, []int64{b1, b2}) || !d.Cutoff.Equal(day(-1)) {
				t.Errorf("yesterday's sent delivery = %+v, want sent with briefs %v", d, []int64{b1, b2})
			}
		case today.ID, benToday.ID:
			if d.Status != digest.DeliveryQueued || d.BriefIDs != nil || d.MessageID == "" {
				t.Errorf("today's delivery = %+v, want queued, with its Message-ID and no brief ids", d)
			}
		}
	}
	if want := []int64{recent.ID, today.ID, benToday.ID}; !slices.Equal(ids, want) {
		t.Errorf("deliveries %v, want %v (by reader, then id; not the one cut off before sentAfter, not another reader's)", ids, want)
	}
	if ds, err := db.RecentDeliveries(ctx, nil, "2026-03-01", day(0)); err != nil || ds != nil {
		t.Errorf("no readers: %v, %v", ds, err)
	}
}

func TestBriefHeads(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	early := mustUpsertBrief(t, db, sampleBrief("early", "lagos", at(1, 0)))
	edge := mustUpsertBrief(t, db, sampleBrief("edge", "dc", at(2, 0)))
	mid := mustUpsertBrief(t, db, sampleBrief("mid", "sg", at(3, 0)))
	gone := mustUpsertBrief(t, db, sampleBrief("gone", "sg", at(3, 30)))
	end := mustUpsertBrief(t, db, sampleBrief("end", "lagos", at(4, 0)))
	mustUpsertBrief(t, db, sampleBrief("later", "lagos", at(5, 0)))
	// A brief a sent delivery carried is marked removed rather than deleted.
	sub := mustCreateSubscriber(t, db, sampleSubscriber("a@example.com", "sg"))
	markPlannedSent(t, db, mustCreateDelivery(t, db, sampleDelivery(sub.ID, "2026-03-01", at(3, 45), gone.ID)))
	if _, err := db.RemoveBrief(ctx, "gone"); err != nil {
		t.Fatal(err)
	}

	hs, err := db.BriefHeads(ctx, at(2, 0), at(4, 0)) // (02:00, 04:00]
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(hs, func(a, b digest.BriefHead) int { return a.PublishedAt.Compare(b.PublishedAt) })
	want := []digest.BriefHead{
		{ID: mid.ID, Region: "sg", PublishedAt: at(3, 0)},
		{ID: gone.ID, Region: "sg", PublishedAt: at(3, 30), Removed: true},
		{ID: end.ID, Region: "lagos", PublishedAt: at(4, 0)},
	}
	if len(hs) != len(want) {
		t.Fatalf("heads %+v, want %+v (not %d at the open start; the removed one marked)", hs, want, edge.ID)
	}
	for i := range want {
		if hs[i].ID != want[i].ID || hs[i].Region != want[i].Region || !hs[i].PublishedAt.Equal(want[i].PublishedAt) ||
			hs[i].Removed != want[i].Removed {
			t.Errorf("head %d = %+v, want %+v", i, hs[i], want[i])
		}
	}
	if hs, err := db.BriefHeads(ctx, at(0, 0).AddDate(-9000, 0, 0), at(1, 0)); err != nil || len(hs) != 1 || hs[0].ID != early.ID {
		t.Errorf("window from before year 1: %+v, %v; want the early brief", hs, err)
	}
}

// PlanDeliveries stores a page of new deliveries with their briefs (in
// order), each shown with a "planned" event, skips the readers who already
// have one that day, and refuses a bad one before writing anything.
func TestPlanDeliveriesPage(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	var briefs []int64
	for i := range 5 {
		briefs = append(briefs, mustUpsertBrief(t, db, sampleBrief(fmt.Sprintf("b%d", i), "lagos", at(1, i))).ID)
	}
	var subs []int64
	for i := range 4 {
		subs = append(subs, mustCreateSubscriber(t, db, sampleSubscriber(fmt.Sprintf("r%d@example.com", i), "lagos")).ID)
	}
	existing := mustCreateDelivery(t, db, sampleDelivery(subs[2], "2026-03-01", at(6, 0), briefs[0]))

	page := []digest.Delivery{
		sampleDelivery(subs[0], "2026-03-01", at(7, 0), briefs[4], briefs[1], briefs[3]),
		sampleDelivery(subs[1], "2026-03-01", at(7, 0), briefs[2]),
		sampleDelivery(subs[2], "2026-03-01", at(7, 0), briefs[1]), // has one
		sampleDelivery(subs[3], "2026-03-01", at(7, 0), briefs...),
	}
	page[2].MessageID = "<other@digest.example>"
	ptrs := []*digest.Delivery{&page[0], &page[1], &page[2], &page[3]}
	created, err := db.PlanDeliveries(ctx, ptrs)
	if err != nil || created != 3 {
		t.Fatalf("PlanDeliveries = %d, %v; want 3", created, err)
	}
	if page[2].ID != 0 {
		t.Errorf("skipped delivery got id %d, want 0", page[2].ID)
	}
	for _, i := range []int{0, 1, 3} {
		d := page[i]
		stored, err := db.Delivery(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(stored.BriefIDs, d.BriefIDs) || stored.SubscriberID != d.SubscriberID || stored.MessageID != d.MessageID ||
			stored.Status != digest.DeliveryQueued || !stored.CreatedAt.Equal(d.CreatedAt) {
			t.Errorf("stored %+v, want %+v", stored, d)
		}
		evs, err := db.DeliveryEvents(ctx, d.ID)
		if err != nil || len(evs) != 1 || evs[0].To != digest.DeliveryQueued || evs[0].Reason != "planned" || !evs[0].At.Equal(d.CreatedAt) {
			t.Errorf("events of delivery %d = %+v, %v; want one planned", d.ID, evs, err)
		}
	}
	if d, err := db.Delivery(ctx, existing.ID); err != nil || !slices.Equal(d.BriefIDs, []int64{briefs[0]}) {
		t.Errorf("the existing delivery became %+v, %v; want it untouched", d, err)
	}

	// A bad delivery anywhere in the page: nothing is written, and the
	// error names the record and the field.
	bad := []digest.Delivery{
		sampleDelivery(subs[0], "2026-03-02", at(7, 0), briefs[0]),
		sampleDelivery(subs[1], "2026-03-02", at(7, 0), briefs[0], briefs[0]),
	}
	_, err = db.PlanDeliveries(ctx, []*digest.Delivery{&bad[0], &bad[1]})
	wantFieldError(t, err, "brief_ids")
	if want := fmt.Sprintf("subscriber %d on 2026-03-02", subs[1]); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %q", err, want)
	}
	if ds, _ := db.ListDeliveries(ctx, DeliveryFilter{Date: "2026-03-02"}); len(ds) != 0 {
		t.Errorf("%d deliveries stored by a refused page, want 0", len(ds))
	}
	if n, err := db.PlanDeliveries(ctx, nil); n != 0 || err != nil {
		t.Errorf("empty page: %d, %v", n, err)
	}

	// A Message-ID already in use is not "this reader already has today's
	// digest": it is refused, not skipped, and the page writes nothing.
	clash := []digest.Delivery{
		sampleDelivery(subs[0], "2026-03-03", at(7, 0), briefs[0]),
		sampleDelivery(subs[1], "2026-03-03", at(7, 0), briefs[0]),
	}
	clash[1].MessageID = page[0].MessageID
	if _, err := db.PlanDeliveries(ctx, []*digest.Delivery{&clash[0], &clash[1]}); !errors.Is(err, digest.ErrConflict) {
		t.Errorf("a page reusing Message-ID %s: %v, want ErrConflict", page[0].MessageID, err)
	}
	if ds, _ := db.ListDeliveries(ctx, DeliveryFilter{Date: "2026-03-03"}); len(ds) != 0 {
		t.Errorf("%d deliveries stored by a page with a Message-ID clash, want 0", len(ds))
	}
}

// PlanDeliveries writes a page with one statement; the texts that travel
// in it as JSON come back exactly as given, whatever they hold, and a
// page naming a reader twice for a day stores the first.
func TestPlanDeliveriesStoresTextsFaithfully(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	brief := mustUpsertBrief(t, db, sampleBrief("b", "lagos", at(1, 0))).ID
	var subs []int64
	for i := range 3 {
		subs = append(subs, mustCreateSubscriber(t, db, sampleSubscriber(fmt.Sprintf("r%d@example.com", i), "lagos")).ID)
	}
	tests := []struct {
		name      string
		messageID string
		errText   string
	}{
		{"quotes and backslashes", `<"a\\b"@digest.example>`, `a "quoted" \\ error`},
		{"non-ASCII", "<é.ü@dìgest.example>", "zürich"},
		{"control characters", "<a\tb@digest.example>", "line\nbreak\x00nul"},
		{"invalid UTF-8", "<a\xffb@digest.example>", "\xfe"},
		{"a replacement character", "<a\ufffdb@digest.example>", ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			date := digest.DateOf(at(0, 0).AddDate(0, 0, i+1))
			page := []digest.Delivery{
				sampleDelivery(subs[0], date, at(7, 0), brief),
				sampleDelivery(subs[1], date, at(7, 0), brief),
				sampleDelivery(subs[1], date, at(7, 0), brief), // the same reader and day again
			}
			page[1].MessageID, page[1].Error = tt.messageID, tt.errText
			page[1].DueAt = at(7, 30)
			page[2].MessageID = "<second@digest.example>"
			created, err := db.PlanDeliveries(ctx, []*digest.Delivery{&page[0], &page[1], &page[2]})
			if err != nil || created != 2 {
				t.Fatalf("PlanDeliveries = %d, %v; want 2", created, err)
			}
			if page[0].ID == 0 || page[1].ID == 0 || page[2].ID != 0 {
				t.Errorf("ids %d, %d, %d; want the first two set, the repeat 0", page[0].ID, page[1].ID, page[2].ID)
			}
			got, err := db.Delivery(ctx, page[1].ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.MessageID != tt.messageID || got.Error != tt.errText || !got.DueAt.Equal(page[1].DueAt) ||
				got.SubscriberID != subs[1] || got.DigestDate != date {
				t.Errorf("stored %+v, want Message-ID %q, error %q, due %v", got, tt.messageID, tt.errText, page[1].DueAt)
			}
			if d, err := db.Delivery(ctx, page[0].ID); err != nil || !d.DueAt.IsZero() || d.SubscriberID != subs[0] {
				t.Errorf("first delivery stored as %+v, %v; want subscriber %d without a due time", d, err, subs[0])
			}
		})
	}
}

// A page that breaks a constraint the validation cannot see (a reader
// who no longer exists) stores nothing, and the error names the delivery.
func TestPlanDeliveriesNamesTheFailingDelivery(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	brief := mustUpsertBrief(t, db, sampleBrief("b", "lagos", at(1, 0))).ID
	sub := mustCreateSubscriber(t, db, sampleSubscriber("r@example.com", "lagos")).ID
	page := []digest.Delivery{
		sampleDelivery(sub, "2026-03-01", at(7, 0), brief),
		sampleDelivery(sub+100, "2026-03-01", at(7, 0), brief),
	}
	_, err := db.PlanDeliveries(ctx, []*digest.Delivery{&page[0], &page[1]})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("subscriber %d on 2026-03-01", sub+100)) {
		t.Errorf("PlanDeliveries with a missing reader: %v; want an error naming subscriber %d", err, sub+100)
	}
	if page[0].ID != 0 || page[1].ID != 0 {
		t.Errorf("ids %d, %d after a failed page; want 0", page[0].ID, page[1].ID)
	}
	if ds, _ := db.ListDeliveries(ctx, DeliveryFilter{Date: "2026-03-01"}); len(ds) != 0 {
		t.Errorf("%d deliveries stored by a failed page, want 0", len(ds))
	}
}

// A delivery planned before planning stopped storing its "planned" event
// shows that stored event once, not a second one made from created_at.
func TestDeliveryEventsShowsAStoredPlannedEventOnce(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	brief := mustUpsertBrief(t, db, sampleBrief("b", "lagos", at(1, 0))).ID
	sub := mustCreateSubscriber(t, db, sampleSubscriber("r@example.com", "lagos")).ID
	d := mustCreateDelivery(t, db, sampleDelivery(sub, "2026-03-01", at(7, 0), brief))
	old := d.CreatedAt.Add(-time.Minute)
	if _, err := db.rw.ExecContext(ctx, `
		INSERT INTO delivery_events (delivery_id, at, from_status, to_status, reason) VALUES (?, ?, '', 'queued', 'planned')`,
		d.ID, formatTime(old)); err != nil {
		t.Fatal(err)
	}
	evs, err := db.DeliveryEvents(ctx, d.ID)
	if err != nil || len(evs) != 1 || !evs[0].At.Equal(old) || evs[0].Reason != "planned" {
		t.Errorf("events = %+v, %v; want the stored planned event alone", evs, err)
	}
	if evs, err := db.DeliveryEvents(ctx, d.ID+1); err != nil || len(evs) != 0 {
		t.Errorf("events of a missing delivery = %+v, %v; want none", evs, err)
	}
}

// BenchmarkPlanDeliveries measures storing one planning page: 4,000 new
// deliveries of eight briefs each, as a pass writes per page.
func BenchmarkPlanDeliveries(b *testing.B) {
	ctx := context.Background()
	db := openTest(b)
	briefs := seedBriefs(b, db, []string{"lagos", "dc"}, 2, 30)
	const page = 4000
	subs := make([]int64, page)
	readers := make([]digest.Subscriber, page)
	for i := range readers {
		readers[i] = sampleSubscriber(fmt.Sprintf("r%d@example.com", i), "lagos")
	}
	importSubscribers(b, db, readers...)
	all, err := db.ListSubscribers(ctx, SubscriberFilter{})
	if err != nil {
		b.Fatal(err)
	}
	for i := range subs {
		subs[i] = all[i].ID
	}
	day := 0
	var cpu time.Duration
	b.ResetTimer()
	for b.Loop() {
		day++
		date := digest.DateOf(at(0, 0).AddDate(0, 0, day))
		ds := make([]digest.Delivery, page)
		ptrs := make([]*digest.Delivery, page)
		for i := range ds {
			ds[i] = sampleDelivery(subs[i], date, at(7, 0).AddDate(0, 0, day), briefs[i%50:i%50+8]...)
			ptrs[i] = &ds[i]
		}
		before := processCPU(b)
		if n, err := db.PlanDeliveries(ctx, ptrs); err != nil || n != page {
			b.Fatalf("PlanDeliveries = %d, %v", n, err)
		}
		cpu += processCPU(b) - before
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*page), "µs/delivery")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*page), "cpu-µs/delivery")
}

// FuzzPlanDeliveriesText holds PlanDeliveries' JSON page to the texts it
// carries: whatever a Message-ID and an error hold, the stored delivery
// reads back with exactly those texts, whether they went in through the
// one-statement page or row by row.
func FuzzPlanDeliveriesText(f *testing.F) {
	for _, seed := range [][2]string{
		{"<a@b>", ""},
		{`<"q\"uo\\te"@x>`, `a "b" \ c`},
		{"<é@ü>", "zürich ✓"},
		{"<a\tb@c>", "line\nbreak"},
		{"<\xff@x>", "\x00"},
		{"<\u2028@x>", "\ufffd"},
		{"<]},[{@x>", `"],null,["`},
	} {
		f.Add(seed[0], seed[1])
	}
	db := openTest(f)
	ctx := context.Background()
	brief := mustUpsertBrief(f, db, sampleBrief("b", "lagos", at(1, 0))).ID
	sub := mustCreateSubscriber(f, db, sampleSubscriber("r@example.com", "lagos")).ID
	var day int
	f.Fuzz(func(t *testing.T, messageID, errText string) {
		if messageID == "" {
			return // refused by validation, tested elsewhere
		}
		day++
		date := digest.DateOf(at(0, 0).AddDate(0, 0, day))
		d := sampleDelivery(sub, date, at(7, 0), brief)
		d.MessageID, d.Error = messageID, errText
		if _, err := db.PlanDeliveries(ctx, []*digest.Delivery{&d}); err != nil {
			if errors.Is(err, digest.ErrConflict) {
				return // the fuzzer repeated a Message-ID
			}
			t.Fatalf("PlanDeliveries(Message-ID %q, error %q): %v", messageID, errText, err)
		}
		got, err := db.Delivery(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.MessageID != messageID || got.Error != errText {
			t.Errorf("stored Message-ID %q, error %q; want %q, %q", got.MessageID, got.Error, messageID, errText)
		}
	})
}

// Removing or inspecting a brief finds the deliveries that carry it
// through the dates it was planned for; a plan whose deliveries come in
// runs with the same date and briefs notes each run once, and must still
// note every (brief, date) that any delivery carries.
func TestPlanDeliveriesNotesEveryBriefDate(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	var slugs []string
	var b []int64
	for i := range 3 {
		slugs = append(slugs, fmt.Sprintf("b%d", i))
		b = append(b, mustUpsertBrief(t, db, sampleBrief(slugs[i], "lagos", at(1, i))).ID)
	}
	type want struct {
		date   digest.Date
		briefs []int64
	}
	plan := []want{
		{"2026-03-01", []int64{b[0], b[1]}},
		{"2026-03-01", []int64{b[0], b[1]}}, // the same run
		{"2026-03-02", []int64{b[0], b[1]}}, // same briefs, another date
		{"2026-03-02", []int64{b[2]}},
		{"2026-03-01", []int64{b[1], b[0]}}, // back to the first date, in another order
		{"2026-03-03", []int64{b[0]}},
	}
	page := make([]digest.Delivery, len(plan))
	ptrs := make([]*digest.Delivery, len(plan))
	carried := map[string]int{}
	for i, w := range plan {
		sub := mustCreateSubscriber(t, db, sampleSubscriber(fmt.Sprintf("r%d@example.com", i), "lagos"))
		page[i] = sampleDelivery(sub.ID, w.date, at(6, 0), slices.Clone(w.briefs)...)
		page[i].DueAt = at(7, 0)
		ptrs[i] = &page[i]
		for _, id := range w.briefs {
			carried[slugs[slices.Index(b, id)]]++
		}
	}
	if n, err := db.PlanDeliveries(ctx, ptrs); err != nil || n != len(page) {
		t.Fatalf("PlanDeliveries = %d, %v; want %d", n, err, len(page))
	}
	for _, slug := range slugs {
		rec, err := db.BriefRecordBySlug(ctx, slug)
		if err != nil {
			t.Fatal(err)
		}
		if got := rec.Deliveries[digest.DeliveryQueued]; got != carried[slug] {
			t.Errorf("brief %s: %d queued deliveries carry it, want %d", slug, got, carried[slug])
		}
	}
}
