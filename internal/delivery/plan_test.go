package delivery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/render"
	"github.com/newsroom/digest/internal/sqlite"
)

// pagedStore is the real store with planning pages cut to a few readers,
// so that tests cross many page boundaries; it records which brief-head
// windows the planner asked for.
type pagedStore struct {
	Store
	size      int
	pages     int
	headLoads [][2]time.Time
}

func (s *pagedStore) ActivePage(ctx context.Context, afterID int64, limit int) ([]digest.Subscriber, error) {
	s.pages++
	return s.Store.ActivePage(ctx, afterID, min(limit, s.size))
}

func (s *pagedStore) BriefHeads(ctx context.Context, after, upTo time.Time) ([]digest.Brief, error) {
	s.headLoads = append(s.headLoads, [2]time.Time{after, upTo})
	return s.Store.BriefHeads(ctx, after, upTo)
}

// oracle is what the per-reader planner this one replaced decided for a
// reader: the outcome reported at planning (or "" when a delivery is
// planned, or the existing one is the workers'), and the briefs a new
// delivery carries, chosen by BriefsNotSent and ordered by render.Arrange.
type oracle struct {
	outcome Outcome
	briefs  []int64
}

func decideOne(t *testing.T, p *Pass, db *sqlite.DB, sub digest.Subscriber, now time.Time) oracle {
	t.Helper()
	ctx := context.Background()
	loc, err := time.LoadLocation(sub.TimeZone)
	if err != nil {
		return oracle{outcome: OutcomeFailed}
	}
	local := now.In(loc)
	dueAt, after := p.window(sub, local)
	if local.Before(dueAt) {
		return oracle{outcome: OutcomeNotDue}
	}
	existing, err := db.DeliveryFor(ctx, sub.ID, digest.DateOf(local))
	switch {
	case err == nil:
		switch existing.Status {
		case digest.DeliverySent:
			return oracle{outcome: OutcomeAlreadySent}
		case digest.DeliveryFailed, digest.DeliveryExpired, digest.DeliverySuppressed:
			return oracle{outcome: OutcomeFailedEarlier}
		case digest.DeliveryDeferred:
			if existing.NextAttemptAt.After(p.now()) {
				return oracle{outcome: OutcomeWaiting}
			}
		}
		return oracle{}
	case !errors.Is(err, digest.ErrNotFound):
		t.Fatal(err)
	}
	briefs, err := db.BriefsNotSent(ctx, sub.ID, sub.Regions, after, local)
	if err != nil {
		t.Fatal(err)
	}
	var o oracle
	for _, s := range render.Arrange(p.opts.Regions, sub.Regions, briefs) {
		for _, b := range s.Briefs {
			o.briefs = append(o.briefs, b.ID)
		}
	}
	if len(o.briefs) == 0 {
		o.outcome = OutcomeNothingNew
	}
	return o
}

// rawDB opens the test database file for what no store method does (a
// sent delivery without an SMTP server).
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

// newDeliveries returns the deliveries with an id above minID, by
// subscriber.
func newDeliveries(t *testing.T, db *sqlite.DB, minID int64) map[int64]digest.Delivery {
	t.Helper()
	ds, err := db.ListDeliveries(context.Background(), sqlite.DeliveryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]digest.Delivery{}
	for _, d := range ds {
		if d.ID > minID {
			if _, dup := out[d.SubscriberID]; dup {
				t.Fatalf("subscriber %d got two new deliveries", d.SubscriberID)
			}
			out[d.SubscriberID] = d
		}
	}
	return out
}

func maxDeliveryID(t *testing.T, db *sqlite.DB) int64 {
	t.Helper()
	ds, err := db.ListDeliveries(context.Background(), sqlite.DeliveryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var m int64
	for _, d := range ds {
		m = max(m, d.ID)
	}
	return m
}

// The streamed planner picks, for every reader of a varied population,
// exactly what the per-reader queries pick: the same outcome, the same
// brief ids in the same order. Pages of seven readers cross many page
// boundaries; the instants include DST changes in Europe and America.
func TestPlanMatchesPerReaderSelection(t *testing.T) {
	for _, c := range []struct {
		name string
		now  string
	}{
		{"morning in Europe", "2026-11-26T07:40:00Z"},
		{"late evening UTC", "2026-11-26T23:10:00Z"},
		{"Europe springs forward", "2026-03-29T01:30:00Z"},
		{"America falls back", "2026-11-01T09:15:00Z"},
	} {
		t.Run(c.name, func(t *testing.T) {
			now, err := time.Parse(time.RFC3339, c.now)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "digest.db")
			population{readers: 700, briefs: 150, now: now, seed: uint64(now.Unix())}.fill(t, path)
			ctx := context.Background()
			db, err := sqlite.Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			store := &pagedStore{Store: db, size: 7}
			p := newPlanPass(t, store, now)

			subs, err := db.ListSubscribers(ctx, sqlite.SubscriberFilter{Status: digest.StatusActive})
			if err != nil {
				t.Fatal(err)
			}
			want := map[int64]oracle{}
			wantCounts := map[Outcome]int{}
			wantPlanned := 0
			for _, s := range subs {
				o := decideOne(t, p, db, s, now)
				want[s.ID] = o
				if o.outcome != "" {
					wantCounts[o.outcome]++
				}
				if len(o.briefs) > 0 {
					wantPlanned++
				}
			}
			before := maxDeliveryID(t, db)

			tl := newTally(0)
			var tm Timings
			created, err := p.plan(ctx, now, false, tl, &tm)
			if err != nil {
				t.Fatal(err)
			}
			if created != wantPlanned {
				t.Errorf("planned %d deliveries, want %d", created, wantPlanned)
			}
			if !maps.Equal(tl.counts, wantCounts) {
				t.Errorf("outcomes %v, want %v", tl.counts, wantCounts)
			}
			got := newDeliveries(t, db, before)
			for _, s := range subs {
				d, ok := got[s.ID]
				if w := want[s.ID].briefs; !slices.Equal(d.BriefIDs, w) || ok != (len(w) > 0) {
					t.Errorf("subscriber %d (%s, regions %v): planned %v (planned: %v), want %v",
						s.ID, s.TimeZone, s.Regions, d.BriefIDs, ok, w)
				}
			}
			for _, it := range tl.items {
				if want[it.Subscriber.ID].outcome != it.Outcome {
					t.Errorf("subscriber %d reported %s, want %s", it.Subscriber.ID, it.Outcome, want[it.Subscriber.ID].outcome)
				}
			}
			if wantPages := len(subs)/7 + 2; store.pages > wantPages {
				t.Errorf("read %d pages for %d readers, want at most %d", store.pages, len(subs), wantPages)
			}
			if wantPlanned < 50 || wantCounts[OutcomeNotDue] == 0 && c.name != "late evening UTC" {
				t.Logf("population exercises little: %d planned, outcomes %v", wantPlanned, wantCounts)
			}
			if tm.Plan <= 0 || (created > 0 && tm.Store <= 0) {
				t.Errorf("timings %+v: want plan and store time", tm)
			}
		})
	}
}

// planFixture is a small database built with the store's own methods.
type planFixture struct {
	t    *testing.T
	ctx  context.Context
	path string
	db   *sqlite.DB
	raw  *sql.DB
}

func newPlanFixture(t *testing.T) *planFixture {
	t.Helper()
	f := &planFixture{t: t, ctx: context.Background(), path: filepath.Join(t.TempDir(), "digest.db")}
	db, err := sqlite.Open(f.ctx, f.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f.db, f.raw = db, rawDB(t, f.path)
	return f
}

func (f *planFixture) brief(slug, region, published string) int64 {
	f.t.Helper()
	b := digest.Brief{Slug: slug, Region: region, Headline: slug, PublishedAt: mustParse(f.t, published)}
	if _, err := f.db.UpsertBrief(f.ctx, &b); err != nil {
		f.t.Fatal(err)
	}
	return b.ID
}

func (f *planFixture) reader(email, regions, zone, send string) digest.Subscriber {
	f.t.Helper()
	st, err := digest.ParseTimeOfDay(send)
	if err != nil {
		f.t.Fatal(err)
	}
	s := digest.Subscriber{Email: email, Regions: strings.Split(regions, ","), TimeZone: zone, SendTime: st, Status: digest.StatusActive}
	if err := f.db.CreateSubscriber(f.ctx, &s); err != nil {
		f.t.Fatal(err)
	}
	return s
}

// sent records a digest as sent to sub with the given briefs, cut off at
// cutoff, and moves their watermark there, as a worker would.
func (f *planFixture) sent(sub digest.Subscriber, date digest.Date, cutoff string, briefs ...int64) {
	f.t.Helper()
	d := digest.Delivery{SubscriberID: sub.ID, DigestDate: date, MessageID: fmt.Sprintf("<%d.%s@test>", sub.ID, date),
		Cutoff: mustParse(f.t, cutoff), BriefIDs: briefs}
	if err := f.db.CreateDelivery(f.ctx, &d); err != nil {
		f.t.Fatal(err)
	}
	stamp := stored(d.Cutoff)
	if _, err := f.raw.ExecContext(f.ctx, `UPDATE deliveries SET status = 'sent', sent_at = ? WHERE id = ?`, stamp, d.ID); err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.raw.ExecContext(f.ctx, `UPDATE subscribers SET watermark = ? WHERE id = ?`, stamp, sub.ID); err != nil {
		f.t.Fatal(err)
	}
}

func mustParse(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Across pages: a reader on a later page whose watermark is older than any
// window an earlier page needed gets the older briefs too (the heads are
// extended, not reloaded); a removed brief and a brief a sent digest
// carried never reach anyone; a reader behind UTC whose digest for their
// (earlier) local day exists is left alone although an earlier page's
// readers were a day ahead.
func TestPlanAcrossPages(t *testing.T) {
	f := newPlanFixture(t)
	now := mustParse(t, "2026-11-26T09:30:00Z")
	old := f.brief("old", "lagos", "2026-11-20T12:00:00Z")
	recent := f.brief("recent", "lagos", "2026-11-26T06:00:00Z")
	carried := f.brief("carried", "lagos", "2026-11-25T07:00:00Z")
	late := f.brief("late", "lagos", "2026-11-25T07:30:00Z") // stored after yesterday's digest, within the grace
	gone := f.brief("gone", "lagos", "2026-11-26T07:00:00Z")
	tokyo := f.brief("tokyo", "beijing", "2026-11-26T08:00:00Z")
	if _, err := f.db.RemoveBrief(f.ctx, "gone"); err != nil {
		t.Fatal(err)
	}

	first := f.reader("first@example.com", "lagos", "Africa/Lagos", "06:00")       // page 1: first digest
	ahead := f.reader("ahead@example.com", "beijing", "Asia/Tokyo", "06:00")       // page 1: already 26th, evening
	regular := f.reader("regular@example.com", "lagos", "Africa/Lagos", "06:00")   // page 2: had yesterday's
	behind := f.reader("behind@example.com", "lagos", "Pacific/Honolulu", "00:00") // page 2: it is the 25th there
	dormant := f.reader("dormant@example.com", "lagos", "Africa/Lagos", "06:00")   // page 3: watermark ten days old
	notDue := f.reader("notdue@example.com", "lagos", "America/New_York", "06:00") // page 3: 04:30 there

	f.sent(regular, "2026-11-25", "2026-11-25T08:00:00Z", carried)
	f.sent(behind, "2026-11-25", "2026-11-25T10:00:00Z", carried) // today's digest there, sent
	f.sent(dormant, "2026-11-16", "2026-11-16T05:00:00Z")

	store := &pagedStore{Store: f.db, size: 2}
	p := newPlanPass(t, store, now)
	before := maxDeliveryID(t, f.db)
	tl := newTally(0)
	created, err := p.plan(f.ctx, now, false, tl, &Timings{})
	if err != nil {
		t.Fatal(err)
	}
	got := newDeliveries(t, f.db, before)
	want := map[int64][]int64{
		first.ID:   {recent},                     // the look-back: a day, without the removed brief
		ahead.ID:   {tokyo},                      // only their region
		regular.ID: {recent, late},               // not what yesterday's digest carried
		dormant.ID: {recent, late, carried, old}, // ten days back, from page 3
	}
	if created != len(want) {
		t.Errorf("created %d deliveries, want %d", created, len(want))
	}
	for id, w := range want {
		if !slices.Equal(got[id].BriefIDs, w) {
			t.Errorf("subscriber %d planned %v, want %v", id, got[id].BriefIDs, w)
		}
	}
	for _, s := range []digest.Subscriber{behind, notDue} {
		if d, ok := got[s.ID]; ok {
			t.Errorf("%s got a new delivery %+v, want none", s.Email, d)
		}
	}
	if tl.counts[OutcomeAlreadySent] != 1 || tl.counts[OutcomeNotDue] != 1 {
		t.Errorf("outcomes %v, want one already-sent (behind) and one not-due", tl.counts)
	}
	if store.pages != 4 {
		t.Errorf("read %d pages of 2 for 6 readers, want 4 (the last one empty)", store.pages)
	}
	// The heads were loaded for the first page's window, then extended back
	// for page 2's regular reader and page 3's dormant one, each time from
	// where the loaded window started: never reloaded.
	if len(store.headLoads) != 3 {
		t.Fatalf("brief heads loaded for %v, want one window and two extensions", store.headLoads)
	}
	for i := 1; i < len(store.headLoads); i++ {
		if !store.headLoads[i][1].Equal(store.headLoads[i-1][0]) {
			t.Errorf("brief heads loaded for %v: extension %d does not reach back from the loaded window", store.headLoads, i)
		}
	}
	for _, d := range got {
		if slices.Contains(d.BriefIDs, gone) {
			t.Errorf("delivery %d carries the removed brief", d.ID)
		}
	}

	// A second pass the same morning plans nothing and reports each
	// reader's queued digest as the workers' business.
	tl = newTally(0)
	if created, err := p.plan(f.ctx, now, false, tl, &Timings{}); err != nil || created != 0 {
		t.Errorf("second pass created %d (err %v), want 0", created, err)
	}
	if n := len(newDeliveries(t, f.db, before)); n != len(want) {
		t.Errorf("%d new deliveries after two passes, want %d", n, len(want))
	}
}

// An empty database plans nothing without error, and a cancelled context
// stops planning before the first page.
func TestPlanEmptyAndCancelled(t *testing.T) {
	f := newPlanFixture(t)
	now := mustParse(t, "2026-11-26T09:30:00Z")
	p := newPlanPass(t, f.db, now)
	if n, err := p.plan(f.ctx, now, false, newTally(0), &Timings{}); n != 0 || err != nil {
		t.Errorf("empty database: %d, %v", n, err)
	}
	f.reader("a@example.com", "lagos", "Africa/Lagos", "06:00")
	f.brief("b", "lagos", "2026-11-26T06:00:00Z")
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	if n, err := p.plan(ctx, now, false, newTally(0), &Timings{}); n != 0 || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %d, %v; want 0 and context.Canceled", n, err)
	}
}

// failingStore refuses to store the page that holds a delivery for the
// subscriber fail, and counts the calls still running.
type failingStore struct {
	Store
	fail   int64
	active atomic.Int32
}

var errPageRefused = errors.New("page refused")

func (s *failingStore) PlanDeliveries(ctx context.Context, ds []*digest.Delivery) (int, error) {
	s.active.Add(1)
	defer s.active.Add(-1)
	for _, d := range ds {
		if d.SubscriberID == s.fail {
			return 0, errPageRefused
		}
	}
	return s.Store.PlanDeliveries(ctx, ds)
}

// A page that cannot be stored stops the plan with an error naming its
// readers. Pages are stored two at a time, so the one after it may be
// stored too; what the pass reports as created is what the database
// holds, and the next pass plans the rest.
func TestPlanStopsAtAPageThatFails(t *testing.T) {
	f := newPlanFixture(t)
	now := mustParse(t, "2026-11-26T09:30:00Z")
	f.brief("b", "lagos", "2026-11-26T06:00:00Z")
	var readers []digest.Subscriber
	for i := range 8 {
		readers = append(readers, f.reader(fmt.Sprintf("r%d@example.com", i), "lagos", "Africa/Lagos", "06:00"))
	}
	store := &failingStore{Store: &pagedStore{Store: f.db, size: 2}, fail: readers[2].ID}
	p := newPlanPass(t, store, now)
	before := maxDeliveryID(t, f.db)
	created, err := p.plan(f.ctx, now, false, newTally(0), &Timings{})
	if n := store.active.Load(); n != 0 {
		t.Errorf("plan returned with %d pages still being stored", n)
	}
	if !errors.Is(err, errPageRefused) {
		t.Fatalf("plan: %v; want the refused page's error", err)
	}
	if want := fmt.Sprintf("subscribers %d-%d", readers[2].ID, readers[3].ID); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %s", err, want)
	}
	got := newDeliveries(t, f.db, before)
	if created != len(got) || created != 2 && created != 4 {
		t.Errorf("reported %d created, the database holds %d; want 2 or 4 (the first page, and maybe the third)", created, len(got))
	}
	for _, r := range readers[2:4] {
		if _, ok := got[r.ID]; ok {
			t.Errorf("reader %d of the refused page has a delivery", r.ID)
		}
	}

	p = newPlanPass(t, f.db, now)
	if n, err := p.plan(f.ctx, now, false, newTally(0), &Timings{}); err != nil || n != len(readers)-created {
		t.Errorf("the next pass: %d, %v; want the other %d", n, err, len(readers)-created)
	}
	if got := newDeliveries(t, f.db, before); len(got) != len(readers) {
		t.Errorf("%d readers have a delivery after both passes, want %d", len(got), len(readers))
	}
}
