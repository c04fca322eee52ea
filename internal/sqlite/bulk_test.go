package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/subscribers"
)

// *DB is the store of subscribers.Import.
var _ subscribers.ImportStore = (*DB)(nil)

// importSubscribers stores subs the way an import does, in batches, with
// an import's consent.
func importSubscribers(tb testing.TB, db *DB, subs ...digest.Subscriber) {
	tb.Helper()
	im := subscribers.Import{Consent: digest.Consent{Source: "import:readers.csv", At: at(9, 0)}}
	for i, s := range subs {
		im.Add(subscribers.Row{Line: i + 2, Subscriber: s})
	}
	res, err := im.Write(context.Background(), db, nil)
	if err != nil || res.Created != len(subs) {
		tb.Fatalf("import %d subscribers: created %d, %v", len(subs), res.Created, err)
	}
}

// An import batch writes through the writer ImportBatch hands it, and
// reads what the database holds inside the same transaction; an error
// from the writer rolls the whole batch back.
func TestImportBatch(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	db.HashKey = []byte("0123456789abcdef0123456789abcdef")
	old := mustCreateSubscriber(t, db, sampleSubscriber("ÄDA@example.com", "lagos"))
	if _, _, err := db.RecordSoftBounce(ctx, old.ID, 5); err != nil {
		t.Fatal(err)
	}
	if err := db.Suppress(ctx, "äda@example.com", "complaint"); err != nil {
		t.Fatal(err)
	}
	err := db.ImportBatch(ctx, []string{"äda@example.com", "new@example.com"}, func(known map[string]*subscribers.Existing, w subscribers.ImportWriter) error {
		e := known[digest.EmailKey("äda@example.com")]
		if len(known) != 1 || e == nil || e.Subscriber.ID != old.ID || e.Suppressed != "complaint" || e.Erased {
			t.Errorf("known = %+v", known)
		}
		next := e.Subscriber
		next.Name, next.Regions, next.Status = "Ada", []string{"bxl", "dc"}, digest.StatusActive
		if err := w.Update(ctx, next, true); err != nil {
			return err
		}
		if err := w.Unsuppress(ctx, next.Email); err != nil {
			return err
		}
		s := sampleSubscriber("new@example.com", "dc")
		if err := w.Create(ctx, &s); err != nil || s.ID == 0 {
			return fmt.Errorf("create: id %d, %w", s.ID, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := db.SubscriberByEmail(ctx, "äda@example.com")
	if err != nil || got.Name != "Ada" || got.Status != digest.StatusActive || !slices.Equal(got.Regions, []string{"bxl", "dc"}) {
		t.Errorf("after the update: %+v %v", got, err)
	}
	if _, suppressed, _ := db.Suppressed(ctx, "ÄDA@example.com"); suppressed {
		t.Error("still suppressed")
	}
	// resetBounces started the count again: four more soft bounces do not
	// reach the limit of five.
	for range 4 {
		if _, bounced, err := db.RecordSoftBounce(ctx, old.ID, 5); err != nil || bounced {
			t.Fatalf("soft bounce after a resubscription: bounced %v, %v", bounced, err)
		}
	}
	if _, err := db.SubscriberByEmail(ctx, "new@example.com"); err != nil {
		t.Errorf("created subscriber: %v", err)
	}
}

func TestImportBatchRefusesWhatCannotBeStored(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	err := db.ImportBatch(ctx, []string{"bob@example.com", "ada@example.com"}, func(_ map[string]*subscribers.Existing, w subscribers.ImportWriter) error {
		bob := sampleSubscriber("bob@example.com", "dc")
		if err := w.Create(ctx, &bob); err != nil {
			return err
		}
		bad := sampleSubscriber("ada@example.com", "lagos", "lagos")
		return w.Create(ctx, &bad)
	})
	wantFieldError(t, err, "regions")
	if all, _ := db.ListSubscribers(ctx, SubscriberFilter{}); len(all) != 0 {
		t.Errorf("a refused batch wrote %d subscribers", len(all))
	}
}

// Suppressions are found whether the lookup reads the whole (short) list
// or looks the batch's addresses up in a longer one, erased addresses by
// their keyed hash.
func TestExistingSubscribersSuppressions(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	db.HashKey = []byte("0123456789abcdef0123456789abcdef")
	emails := []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com", "e@example.com"}
	for i, e := range emails {
		mustCreateSubscriber(t, db, sampleSubscriber(e, "lagos"))
		var err error
		if i < 2 {
			err = db.EraseSubscriber(ctx, e)
		} else {
			err = db.Suppress(ctx, e, "complaint")
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	want := func(e string) (subscribers.Existing, bool) {
		switch e {
		case "a@example.com", "b@example.com":
			return subscribers.Existing{Suppressed: "erased", Erased: true}, true
		case "f@example.com":
			return subscribers.Existing{}, false
		}
		return subscribers.Existing{Suppressed: "complaint"}, true
	}
	check := func(how string, known map[string]*subscribers.Existing, e string) {
		t.Helper()
		w, ok := want(e)
		got := known[digest.EmailKey(e)]
		switch {
		case !ok && got != nil:
			t.Errorf("%s: %s: %+v, want nothing", how, e, got)
		case ok && (got == nil || got.Suppressed != w.Suppressed || got.Erased != w.Erased):
			t.Errorf("%s: %s: %+v, want %+v", how, e, got, w)
		case ok && !w.Erased && got.Subscriber.Status != digest.StatusUnsubscribed:
			t.Errorf("%s: %s: subscriber %+v, want the unsubscribed reader", how, e, got.Subscriber)
		}
	}
	all := append(slices.Clone(emails), "f@example.com")
	// One at a time: five suppressions, a batch of one, so looked up.
	for _, e := range all {
		known, err := db.ExistingSubscribers(ctx, []string{strings.ToUpper(e)})
		if err != nil {
			t.Fatal(err)
		}
		check("alone", known, e)
	}
	// All at once: the list is read whole.
	upper := make([]string, len(all))
	for i, e := range all {
		upper[i] = strings.ToUpper(e)
	}
	known, err := db.ExistingSubscribers(ctx, upper)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		check("in one batch", known, e)
	}
}

func TestExistingSubscribers(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	ada := mustCreateSubscriber(t, db, sampleSubscriber("ÄDA@example.com", "lagos", "dc"))
	got, err := db.ExistingSubscribers(ctx, []string{"äda@example.com", "nobody@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	e := got[digest.EmailKey("äda@example.com")]
	if len(got) != 1 || e == nil || e.Subscriber.ID != ada.ID || !slices.Equal(e.Subscriber.Regions, ada.Regions) {
		t.Errorf("ExistingSubscribers = %+v", got)
	}
}

// TestStreamSubscribers streams more than a page, filtered, in id order,
// and stops at the first error of the callback.
func TestStreamSubscribers(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	n := 2*exportPage + 3
	subs := make([]digest.Subscriber, n)
	for i := range subs {
		subs[i] = sampleSubscriber(fmt.Sprintf("r%05d@example.com", i), "lagos")
		if i%3 == 0 {
			subs[i].Regions = []string{"dc", "lagos"}
			subs[i].Status = digest.StatusPending
		}
	}
	importSubscribers(t, db, subs...)
	tests := []struct {
		name string
		f    SubscriberFilter
		want int
	}{
		{"all", SubscriberFilter{}, n},
		{"status", SubscriberFilter{Status: digest.StatusPending}, (n + 2) / 3},
		{"region", SubscriberFilter{Region: "dc"}, (n + 2) / 3},
		{"status and region", SubscriberFilter{Status: digest.StatusActive, Region: "dc"}, 0},
		{"search", SubscriberFilter{Search: "r0100"}, 10},
		{"limit across pages", SubscriberFilter{Limit: exportPage + 10}, exportPage + 10},
		{"limit and filter", SubscriberFilter{Region: "dc", Limit: 5}, 5},
		{"created", SubscriberFilter{CreatedAfter: epoch, CreatedBefore: epoch.Add(time.Hour)}, n},
		{"created later", SubscriberFilter{CreatedAfter: epoch.Add(time.Hour)}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []digest.Subscriber
			err := db.StreamSubscribers(ctx, tt.f, func(s digest.Subscriber) error {
				got = append(got, s)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Fatalf("%d subscribers, want %d", len(got), tt.want)
			}
			list, _ := db.ListSubscribers(ctx, tt.f)
			for i := range got {
				if got[i].ID != list[i].ID || !slices.Equal(got[i].Regions, list[i].Regions) {
					t.Fatalf("subscriber %d: stream %+v, list %+v", i, got[i], list[i])
				}
			}
		})
	}
	stop := errors.New("stop")
	calls := 0
	err := db.StreamSubscribers(ctx, SubscriberFilter{}, func(digest.Subscriber) error {
		if calls++; calls == 5 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 5 {
		t.Errorf("stream after an error: %v after %d calls", err, calls)
	}
}

// BenchmarkImportSubscribers measures the database side of an import:
// DIGEST_BENCH_ROWS rows (default 100,000) into an empty database.
func BenchmarkImportSubscribers(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("DIGEST_BENCH_ROWS")); err == nil && v > 0 {
		n = v
	}
	subs := make([]digest.Subscriber, n)
	for i := range subs {
		subs[i] = sampleSubscriber(fmt.Sprintf("reader%07d@example.com", i), "lagos", "bxl")
	}
	for b.Loop() {
		b.StopTimer()
		db := openTest(b)
		db.Now = time.Now
		b.StartTimer()
		start := time.Now()
		importSubscribers(b, db, subs...)
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "rows/s")
	}
}
