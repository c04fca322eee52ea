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
)

// importRow returns a valid import row for email, with the consent an
// import records.
func importRow(email string, regions ...string) ImportRow {
	s := sampleSubscriber(email, regions...)
	s.Consent = digest.Consent{Source: "import:readers.csv", At: at(9, 0)}
	return ImportRow{Subscriber: s}
}

// TestImportSubscribersModes runs one import row against every state an
// address can be in, under each mode, and checks what was done and what
// the database holds afterwards.
func TestImportSubscribersModes(t *testing.T) {
	type state struct {
		name  string
		setup func(t *testing.T, db *DB) // creates ada@example.com in this state
	}
	withStatus := func(status digest.SubscriberStatus) func(*testing.T, *DB) {
		return func(t *testing.T, db *DB) {
			s := sampleSubscriber("Ada@Example.com", "lagos")
			s.Name, s.Status = "Old Name", status
			mustCreateSubscriber(t, db, s)
		}
	}
	states := []state{
		{"new", func(*testing.T, *DB) {}},
		{"active", withStatus(digest.StatusActive)},
		{"pending", withStatus(digest.StatusPending)},
		{"unsubscribed", withStatus(digest.StatusUnsubscribed)},
		{"bounced", withStatus(digest.StatusBounced)},
		{"expired", withStatus(digest.StatusExpired)},
		{"suppressed", func(t *testing.T, db *DB) {
			withStatus(digest.StatusActive)(t, db)
			if err := db.Suppress(context.Background(), "ada@example.com", "complaint"); err != nil {
				t.Fatal(err)
			}
		}},
		{"suppressed, no subscriber", func(t *testing.T, db *DB) {
			if err := db.Suppress(context.Background(), "ADA@example.com", "operator"); err != nil {
				t.Fatal(err)
			}
		}},
		{"erased", func(t *testing.T, db *DB) {
			withStatus(digest.StatusActive)(t, db)
			if err := db.EraseSubscriber(context.Background(), "ada@example.com"); err != nil {
				t.Fatal(err)
			}
		}},
	}
	modes := map[string]ImportMode{
		"plain":    {},
		"update":   {UpdateExisting: true},
		"resub":    {Resubscribe: true},
		"update+r": {UpdateExisting: true, Resubscribe: true},
	}
	// want[state][mode] = action, and the name and status stored after.
	type outcome struct {
		action     ImportAction
		name       string
		status     digest.SubscriberStatus
		suppressed bool
	}
	created := outcome{ImportCreate, "New Name", digest.StatusActive, false}
	kept := func(a ImportAction, st digest.SubscriberStatus, supp bool) outcome {
		return outcome{a, "Old Name", st, supp}
	}
	updated := outcome{ImportUpdate, "New Name", digest.StatusActive, false}
	want := map[string]map[string]outcome{
		"new":          {"plain": created, "update": created, "resub": created, "update+r": created},
		"active":       {"plain": kept(ImportSkipExisting, digest.StatusActive, false), "update": updated, "resub": kept(ImportSkipExisting, digest.StatusActive, false), "update+r": updated},
		"pending":      {"plain": kept(ImportSkipExisting, digest.StatusPending, false), "update": {ImportUpdate, "New Name", digest.StatusPending, false}, "resub": kept(ImportSkipExisting, digest.StatusPending, false), "update+r": {ImportUpdate, "New Name", digest.StatusPending, false}},
		"unsubscribed": {"plain": kept(ImportSkipInactive, digest.StatusUnsubscribed, false), "update": kept(ImportSkipInactive, digest.StatusUnsubscribed, false), "resub": updated, "update+r": updated},
		"bounced":      {"plain": kept(ImportSkipInactive, digest.StatusBounced, false), "update": kept(ImportSkipInactive, digest.StatusBounced, false), "resub": updated, "update+r": updated},
		"expired":      {"plain": kept(ImportSkipInactive, digest.StatusExpired, false), "update": kept(ImportSkipInactive, digest.StatusExpired, false), "resub": updated, "update+r": updated},
		"suppressed":   {"plain": kept(ImportSkipInactive, digest.StatusUnsubscribed, true), "update": kept(ImportSkipInactive, digest.StatusUnsubscribed, true), "resub": updated, "update+r": updated},
		"suppressed, no subscriber": {"plain": {ImportSkipInactive, "", "", true}, "update": {ImportSkipInactive, "", "", true},
			"resub": created, "update+r": created},
		"erased": {"plain": {ImportSkipInactive, "", "", true}, "update": {ImportSkipInactive, "", "", true},
			"resub": {ImportSkipInactive, "", "", true}, "update+r": {ImportSkipInactive, "", "", true}},
	}
	for _, st := range states {
		for mname, mode := range modes {
			t.Run(st.name+"/"+mname, func(t *testing.T) {
				ctx := context.Background()
				db := openTest(t)
				db.HashKey = []byte("0123456789abcdef0123456789abcdef")
				st.setup(t, db)
				row := importRow("ada@example.com", "bxl", "dc")
				row.Subscriber.Name = "New Name"
				row.SetName = true
				w := want[st.name][mname]

				// What a dry run predicts is what the import does.
				existing, err := db.ExistingSubscribers(ctx, []string{row.Subscriber.Email})
				if err != nil {
					t.Fatal(err)
				}
				var e *Existing
				if x, ok := existing[row.Subscriber.Email]; ok {
					e = &x
				}
				planned, _ := mode.Plan(row, e)

				res, err := db.ImportSubscribers(ctx, []ImportRow{row}, mode)
				if err != nil {
					t.Fatal(err)
				}
				if got := res.Outcomes[0]; got.Action != w.action || planned != got {
					t.Errorf("outcome %+v (planned %+v), want action %v", got, planned, w.action)
				}
				s, err := db.SubscriberByEmail(ctx, "ada@example.com")
				switch {
				case w.status == "" && !errors.Is(err, digest.ErrNotFound):
					t.Errorf("a subscriber exists: %+v %v", s, err)
				case w.status != "" && err != nil:
					t.Fatal(err)
				case w.status != "":
					if s.Name != w.name || s.Status != w.status {
						t.Errorf("stored %q %s, want %q %s", s.Name, s.Status, w.name, w.status)
					}
					wantRegions := []string{"lagos"}
					if w.name == "New Name" {
						wantRegions = []string{"bxl", "dc"}
					}
					if !slices.Equal(s.Regions, wantRegions) {
						t.Errorf("regions %v, want %v", s.Regions, wantRegions)
					}
					if w.action == ImportCreate || (w.action == ImportUpdate && st.name != "active" && st.name != "pending") {
						if s.Consent.Source != "import:readers.csv" || !s.Consent.At.Equal(at(9, 0)) {
							t.Errorf("consent %+v, want the import's", s.Consent)
						}
					} else if s.Consent.Source == "import:readers.csv" {
						t.Errorf("consent replaced by an update: %+v", s.Consent)
					}
				}
				_, suppressed, err := db.Suppressed(ctx, "ada@example.com")
				if err != nil {
					t.Fatal(err)
				}
				if suppressed != w.suppressed {
					t.Errorf("suppressed %v, want %v", suppressed, w.suppressed)
				}
			})
		}
	}
}

// An update sets only what the row gives; a row equal to what is stored
// changes nothing and is counted as unchanged.
func TestImportSubscribersPartialUpdate(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	old := mustCreateSubscriber(t, db, sampleSubscriber("ada@example.com", "lagos"))

	row := importRow("ADA@example.com", "lagos", "bxl")
	row.Subscriber.Name, row.Subscriber.TimeZone = "Ignored", "Asia/Tokyo"
	row.Subscriber.SendTime, row.SetSendTime = digest.TimeOfDay{Hour: 5, Minute: 45}, true
	row.Subscriber.Status, row.SetStatus = digest.StatusUnsubscribed, true
	res, err := db.ImportSubscribers(ctx, []ImportRow{row}, ImportMode{UpdateExisting: true})
	if err != nil || res.Updated != 1 {
		t.Fatalf("import: %+v %v", res, err)
	}
	got, _ := db.Subscriber(ctx, old.ID)
	if got.Name != old.Name || got.TimeZone != old.TimeZone || got.Email != old.Email ||
		got.SendTime != row.Subscriber.SendTime || got.Status != digest.StatusUnsubscribed ||
		!slices.Equal(got.Regions, []string{"lagos", "bxl"}) {
		t.Errorf("after a partial update: %+v", got)
	}
	// Unsubscribed now: the same row again is not an update any more.
	res, err = db.ImportSubscribers(ctx, []ImportRow{row}, ImportMode{UpdateExisting: true})
	if err != nil || res.Outcomes[0].Action != ImportSkipInactive {
		t.Errorf("re-import onto an unsubscribed reader: %+v %v", res, err)
	}

	other := mustCreateSubscriber(t, db, sampleSubscriber("bob@example.com", "lagos"))
	same := importRow("bob@example.com", "lagos")
	same.SetName, same.SetTimeZone, same.SetSendTime, same.SetStatus = true, true, true, true
	same.Subscriber.Name = other.Name
	res, err = db.ImportSubscribers(ctx, []ImportRow{same}, ImportMode{UpdateExisting: true})
	if err != nil || res.Unchanged != 1 || res.Updated != 0 {
		t.Errorf("identical row: %+v %v, want unchanged", res, err)
	}
	if got, _ := db.Subscriber(ctx, other.ID); !got.UpdatedAt.Equal(other.UpdatedAt) {
		t.Errorf("an unchanged subscriber's updated_at moved")
	}
}

// Rows span several transactions; each row lands once, with its regions
// in order; a second row with the same address sees the first.
func TestImportSubscribersBatches(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	n := 2*ImportBatch + 7
	rows := make([]ImportRow, n)
	for i := range rows {
		rows[i] = importRow(fmt.Sprintf("r%05d@example.com", i), "lagos", "bxl", "dc")
	}
	rows = append(rows, importRow("R00003@EXAMPLE.com", "dc"))
	res, err := db.ImportSubscribers(ctx, rows, ImportMode{UpdateExisting: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Created != n || res.Updated != 1 || len(res.Outcomes) != n+1 {
		t.Fatalf("result created %d updated %d outcomes %d, want %d, 1, %d", res.Created, res.Updated, len(res.Outcomes), n, n+1)
	}
	all, err := db.ListSubscribers(ctx, SubscriberFilter{})
	if err != nil || len(all) != n {
		t.Fatalf("%d subscribers, %v; want %d", len(all), err, n)
	}
	for i, s := range all {
		want := []string{"lagos", "bxl", "dc"}
		if i == 3 {
			want = []string{"dc"}
		}
		if !slices.Equal(s.Regions, want) || s.Consent.Source != "import:readers.csv" {
			t.Fatalf("subscriber %d: regions %v, consent %+v", i, s.Regions, s.Consent)
		}
	}
}

func TestImportSubscribersRefusesWhatCannotBeStored(t *testing.T) {
	db := openTest(t)
	bad := importRow("ada@example.com", "lagos", "lagos")
	_, err := db.ImportSubscribers(context.Background(), []ImportRow{importRow("bob@example.com", "dc"), bad}, ImportMode{})
	wantFieldError(t, err, "regions")
	if all, _ := db.ListSubscribers(context.Background(), SubscriberFilter{}); len(all) != 0 {
		t.Errorf("a refused batch wrote %d subscribers", len(all))
	}
}

// Suppressions are found whether the import reads the whole (short) list
// or looks the batch's addresses up in a longer one.
func TestImportSuppressionLookup(t *testing.T) {
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
	want := []ImportOutcome{
		{Action: ImportSkipInactive, Suppressed: "erased", Erased: true},
		{Action: ImportSkipInactive, Suppressed: "erased", Erased: true},
		{Action: ImportSkipInactive, Was: digest.StatusUnsubscribed, Suppressed: "complaint"},
		{Action: ImportSkipInactive, Was: digest.StatusUnsubscribed, Suppressed: "complaint"},
		{Action: ImportSkipInactive, Was: digest.StatusUnsubscribed, Suppressed: "complaint"},
		{Action: ImportCreate},
	}
	rows := make([]ImportRow, 0, len(emails)+1)
	for _, e := range append(emails, "f@example.com") {
		rows = append(rows, importRow(strings.ToUpper(e), "dc"))
	}
	// One at a time: five suppressions, a batch of one, so looked up.
	for i, r := range rows[:5] {
		res, err := db.ImportSubscribers(ctx, []ImportRow{r}, ImportMode{})
		if err != nil || res.Outcomes[0] != want[i] {
			t.Errorf("%s alone: %+v %v, want %+v", r.Subscriber.Email, res.Outcomes, err, want[i])
		}
	}
	// All at once: the list is read whole.
	res, err := db.ImportSubscribers(ctx, rows, ImportMode{})
	if err != nil || !slices.Equal(res.Outcomes, want) {
		t.Errorf("in one batch: %+v %v\nwant %+v", res.Outcomes, err, want)
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
	if len(got) != 1 || got["äda@example.com"].Subscriber.ID != ada.ID || !slices.Equal(got["äda@example.com"].Subscriber.Regions, ada.Regions) {
		t.Errorf("ExistingSubscribers = %+v", got)
	}
}

// TestStreamSubscribers streams more than a page, filtered, in id order,
// and stops at the first error of the callback.
func TestStreamSubscribers(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	n := 2*exportPage + 3
	rows := make([]ImportRow, n)
	for i := range rows {
		rows[i] = importRow(fmt.Sprintf("r%05d@example.com", i), "lagos")
		if i%3 == 0 {
			rows[i].Subscriber.Regions = []string{"dc", "lagos"}
			rows[i].Subscriber.Status = digest.StatusPending
		}
	}
	if _, err := db.ImportSubscribers(ctx, rows, ImportMode{}); err != nil {
		t.Fatal(err)
	}
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
	rows := make([]ImportRow, n)
	for i := range rows {
		rows[i] = importRow(fmt.Sprintf("reader%07d@example.com", i), "lagos", "bxl")
	}
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		db := openTest(b)
		db.Now = time.Now
		b.StartTimer()
		start := time.Now()
		if _, err := db.ImportSubscribers(ctx, rows, ImportMode{}); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "rows/s")
	}
}
