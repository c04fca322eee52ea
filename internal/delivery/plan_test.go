package delivery

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/sqlite"
	"github.com/newsroom/digest/internal/sqlite/sqlitetest"
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

func (s *pagedStore) BriefHeads(ctx context.Context, after, upTo time.Time) ([]digest.BriefHead, error) {
	s.headLoads = append(s.headLoads, [2]time.Time{after, upTo})
	return s.Store.BriefHeads(ctx, after, upTo)
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
	if err := sqlitetest.CreateDelivery(f.ctx, f.db, &d); err != nil {
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

// Each reader of a page is judged by their own history: the page's
// deliveries come back from one read, and readers whose sent digests
// alternate in it each keep only what their own digests carried out. The
// watermarks lag (the last catch-up did not run), so both of each
// reader's digests fall inside the window.
func TestPlanHistoryPerReader(t *testing.T) {
	f := newPlanFixture(t)
	now := mustParse(t, "2026-11-26T09:30:00Z")
	b1 := f.brief("b1", "lagos", "2026-11-24T07:00:00Z")
	b2 := f.brief("b2", "lagos", "2026-11-24T07:00:00Z")
	b3 := f.brief("b3", "lagos", "2026-11-25T07:00:00Z")
	b4 := f.brief("b4", "lagos", "2026-11-25T07:00:00Z")
	b5 := f.brief("b5", "lagos", "2026-11-26T06:00:00Z")
	ann := f.reader("ann@example.com", "lagos", "Africa/Lagos", "06:00")
	bob := f.reader("bob@example.com", "lagos", "Africa/Lagos", "06:00")
	f.sent(ann, "2026-11-24", "2026-11-24T08:00:00Z", b1)
	f.sent(bob, "2026-11-24", "2026-11-24T08:00:00Z", b2)
	f.sent(ann, "2026-11-25", "2026-11-25T08:00:00Z", b3)
	f.sent(bob, "2026-11-25", "2026-11-25T08:00:00Z", b4)
	if _, err := f.raw.ExecContext(f.ctx, `UPDATE subscribers SET watermark = ?`, stored(mustParse(t, "2026-11-24T08:00:00Z"))); err != nil {
		t.Fatal(err)
	}

	p := newPlanPass(t, f.db, now)
	before := maxDeliveryID(t, f.db)
	if _, err := p.plan(f.ctx, now, false, newTally(0), &Timings{}); err != nil {
		t.Fatal(err)
	}
	got := newDeliveries(t, f.db, before)
	for _, c := range []struct {
		sub  digest.Subscriber
		want []int64
	}{{ann, []int64{b5, b4, b2}}, {bob, []int64{b5, b3, b1}}} {
		if !slices.Equal(got[c.sub.ID].BriefIDs, c.want) {
			t.Errorf("%s planned %v, want %v", c.sub.Email, got[c.sub.ID].BriefIDs, c.want)
		}
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
