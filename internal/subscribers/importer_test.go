package subscribers_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/sqlite"
	"github.com/newsroom/digest/internal/subscribers"
)

var importConsent = digest.Consent{Source: "import:readers.csv", At: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}

// openStore opens a fresh SQLite database under t.TempDir(), with the key
// of erased addresses set.
func openStore(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "digest.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.HashKey = []byte("0123456789abcdef0123456789abcdef")
	t.Cleanup(func() { db.Close() })
	return db
}

func reader(email string, regions ...string) digest.Subscriber {
	return digest.Subscriber{Email: email, Name: "Reader " + email, Regions: regions, TimeZone: "Africa/Lagos",
		SendTime: digest.TimeOfDay{Hour: 7, Minute: 30}, Status: digest.StatusActive}
}

func create(t *testing.T, db *sqlite.DB, s digest.Subscriber) digest.Subscriber {
	t.Helper()
	if err := db.CreateSubscriber(context.Background(), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// importRows runs an import of rows with mode, as a dry run first and then
// for real, and fails the test when the dry run predicted otherwise (a
// dry run decides each row against the store as it is: rows of one file
// have distinct addresses).
func importRows(t *testing.T, db *sqlite.DB, mode subscribers.ImportMode, rows ...subscribers.Row) subscribers.ImportResult {
	t.Helper()
	ctx := context.Background()
	im := subscribers.Import{Mode: mode, Consent: importConsent}
	for i, r := range rows {
		if r.Line == 0 {
			r.Line = i + 2
		}
		im.Add(r)
	}
	planned, err := im.Plan(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	res, err := im.Write(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) < 10 && !slices.Equal(planned.Outcomes, res.Outcomes) {
		t.Errorf("a dry run planned %+v, the import did %+v", planned.Outcomes, res.Outcomes)
	}
	return res
}

// TestImportModes runs one import row against every state an address can
// be in, under each mode, and checks what was done and what the database
// holds afterwards.
func TestImportModes(t *testing.T) {
	withStatus := func(status digest.SubscriberStatus) func(*testing.T, *sqlite.DB) {
		return func(t *testing.T, db *sqlite.DB) {
			s := reader("Ada@Example.com", "lagos")
			s.Name, s.Status = "Old Name", status
			create(t, db, s)
		}
	}
	ctx := context.Background()
	states := []struct {
		name  string
		setup func(t *testing.T, db *sqlite.DB) // puts ada@example.com in this state
	}{
		{"new", func(*testing.T, *sqlite.DB) {}},
		{"active", withStatus(digest.StatusActive)},
		{"pending", withStatus(digest.StatusPending)},
		{"unsubscribed", withStatus(digest.StatusUnsubscribed)},
		{"bounced", withStatus(digest.StatusBounced)},
		{"expired", withStatus(digest.StatusExpired)},
		{"suppressed", func(t *testing.T, db *sqlite.DB) {
			withStatus(digest.StatusActive)(t, db)
			if err := db.Suppress(ctx, "ada@example.com", "complaint"); err != nil {
				t.Fatal(err)
			}
		}},
		{"suppressed, no subscriber", func(t *testing.T, db *sqlite.DB) {
			if err := db.Suppress(ctx, "ADA@example.com", "operator"); err != nil {
				t.Fatal(err)
			}
		}},
		{"erased", func(t *testing.T, db *sqlite.DB) {
			withStatus(digest.StatusActive)(t, db)
			if err := db.EraseSubscriber(ctx, "ada@example.com"); err != nil {
				t.Fatal(err)
			}
		}},
	}
	modes := map[string]subscribers.ImportMode{
		"plain":    {},
		"update":   {UpdateExisting: true},
		"resub":    {Resubscribe: true},
		"update+r": {UpdateExisting: true, Resubscribe: true},
	}
	// want[state][mode] = action, and the name and status stored after.
	type outcome struct {
		action     subscribers.ImportAction
		name       string
		status     digest.SubscriberStatus
		suppressed bool
	}
	const (
		create_   = subscribers.ImportCreate
		update    = subscribers.ImportUpdate
		skipExist = subscribers.ImportSkipExisting
		skipInact = subscribers.ImportSkipInactive
		unsub     = digest.StatusUnsubscribed
		active    = digest.StatusActive
		pending   = digest.StatusPending
		bounced   = digest.StatusBounced
		expired   = digest.StatusExpired
		newName   = "New Name"
		oldName   = "Old Name"
	)
	created := outcome{create_, newName, active, false}
	kept := func(a subscribers.ImportAction, st digest.SubscriberStatus, supp bool) outcome {
		return outcome{a, oldName, st, supp}
	}
	updated := outcome{update, newName, active, false}
	gone := outcome{skipInact, "", "", true}
	want := map[string]map[string]outcome{
		"new":                       {"plain": created, "update": created, "resub": created, "update+r": created},
		"active":                    {"plain": kept(skipExist, active, false), "update": updated, "resub": kept(skipExist, active, false), "update+r": updated},
		"pending":                   {"plain": kept(skipExist, pending, false), "update": {update, newName, pending, false}, "resub": kept(skipExist, pending, false), "update+r": {update, newName, pending, false}},
		"unsubscribed":              {"plain": kept(skipInact, unsub, false), "update": kept(skipInact, unsub, false), "resub": updated, "update+r": updated},
		"bounced":                   {"plain": kept(skipInact, bounced, false), "update": kept(skipInact, bounced, false), "resub": updated, "update+r": updated},
		"expired":                   {"plain": kept(skipInact, expired, false), "update": kept(skipInact, expired, false), "resub": updated, "update+r": updated},
		"suppressed":                {"plain": kept(skipInact, unsub, true), "update": kept(skipInact, unsub, true), "resub": updated, "update+r": updated},
		"suppressed, no subscriber": {"plain": gone, "update": gone, "resub": created, "update+r": created},
		"erased":                    {"plain": gone, "update": gone, "resub": gone, "update+r": gone},
	}
	for _, st := range states {
		for mname, mode := range modes {
			t.Run(st.name+"/"+mname, func(t *testing.T) {
				db := openStore(t)
				st.setup(t, db)
				row := subscribers.Row{Subscriber: reader("ada@example.com", "bxl", "dc"), HasName: true}
				row.Subscriber.Name = newName
				w := want[st.name][mname]

				res := importRows(t, db, mode, row)
				if got := res.Outcomes[0]; got.Action != w.action {
					t.Errorf("outcome %+v, want action %v", got, w.action)
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
					if w.name == newName {
						wantRegions = []string{"bxl", "dc"}
					}
					if !slices.Equal(s.Regions, wantRegions) {
						t.Errorf("regions %v, want %v", s.Regions, wantRegions)
					}
					if w.action == create_ || (w.action == update && st.name != "active" && st.name != "pending") {
						if s.Consent.Source != importConsent.Source || !s.Consent.At.Equal(importConsent.At) {
							t.Errorf("consent %+v, want the import's", s.Consent)
						}
					} else if s.Consent.Source == importConsent.Source {
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
func TestImportPartialUpdate(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	old := create(t, db, reader("ada@example.com", "lagos"))
	update := subscribers.ImportMode{UpdateExisting: true}

	row := subscribers.Row{Subscriber: reader("ADA@example.com", "lagos", "bxl"), HasSendTime: true, HasStatus: true}
	row.Subscriber.Name, row.Subscriber.TimeZone = "Ignored", "Asia/Tokyo"
	row.Subscriber.SendTime = digest.TimeOfDay{Hour: 5, Minute: 45}
	row.Subscriber.Status = digest.StatusUnsubscribed
	if res := importRows(t, db, update, row); res.Updated != 1 {
		t.Fatalf("import: %+v", res)
	}
	got, _ := db.SubscriberByEmail(ctx, "ada@example.com")
	if got.Name != old.Name || got.TimeZone != old.TimeZone || got.Email != old.Email ||
		got.SendTime != row.Subscriber.SendTime || got.Status != digest.StatusUnsubscribed ||
		!slices.Equal(got.Regions, []string{"lagos", "bxl"}) {
		t.Errorf("after a partial update: %+v", got)
	}
	// Unsubscribed now: the same row again is not an update any more.
	if res := importRows(t, db, update, row); res.Outcomes[0].Action != subscribers.ImportSkipInactive {
		t.Errorf("re-import onto an unsubscribed reader: %+v", res)
	}

	other := create(t, db, reader("bob@example.com", "lagos"))
	same := subscribers.Row{Subscriber: reader("bob@example.com", "lagos"), HasName: true, HasTimeZone: true, HasSendTime: true, HasStatus: true}
	if res := importRows(t, db, update, same); res.Unchanged != 1 || res.Updated != 0 {
		t.Errorf("identical row: %+v, want unchanged", res)
	}
	if got, _ := db.SubscriberByEmail(ctx, "bob@example.com"); !got.UpdatedAt.Equal(other.UpdatedAt) {
		t.Errorf("an unchanged subscriber's updated_at moved")
	}
}

// Rows span several transactions; each row lands once, with its regions
// in order; a second row with the same address sees the first, and the
// outcomes carry each row's line.
func TestImportBatches(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	n := 2*subscribers.ImportBatch + 7
	rows := make([]subscribers.Row, n, n+1)
	for i := range rows {
		rows[i] = subscribers.Row{Subscriber: reader(fmt.Sprintf("r%05d@example.com", i), "lagos", "bxl", "dc")}
	}
	rows = append(rows, subscribers.Row{Subscriber: reader("R00003@EXAMPLE.com", "dc")})
	im := subscribers.Import{Mode: subscribers.ImportMode{UpdateExisting: true}, Consent: importConsent}
	for i, r := range rows {
		r.Line = i + 2
		im.Add(r)
	}
	batches := 0
	res, err := im.Write(ctx, db, func(int) { batches++ })
	if err != nil || batches != 3 {
		t.Fatalf("import: %v after %d batches, want 3", err, batches)
	}
	if res.Created != n || res.Updated != 1 || len(res.Outcomes) != n+1 {
		t.Fatalf("result created %d updated %d outcomes %d, want %d, 1, %d", res.Created, res.Updated, len(res.Outcomes), n, n+1)
	}
	for i, o := range res.Outcomes {
		if o.Line != i+2 {
			t.Fatalf("outcome %d has line %d, want %d", i, o.Line, i+2)
		}
	}
	all, err := db.ListSubscribers(ctx, sqlite.SubscriberFilter{})
	if err != nil || len(all) != n {
		t.Fatalf("%d subscribers, %v; want %d", len(all), err, n)
	}
	for i, s := range all {
		want := []string{"lagos", "bxl", "dc"}
		if i == 3 {
			want = []string{"dc"}
		}
		if !slices.Equal(s.Regions, want) || s.Consent.Source != importConsent.Source {
			t.Fatalf("subscriber %d: regions %v, consent %+v", i, s.Regions, s.Consent)
		}
	}
}

// With Pending, new readers are stored pending whatever their status
// column says, and become the import's invitees; a failed invitation is
// reported and does not stop the others.
func TestImportPendingInvites(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	create(t, db, reader("old@example.com", "lagos"))
	im := subscribers.Import{Consent: digest.Consent{Source: "import:x.csv"}, Pending: true}
	for i, e := range []string{"kemi@example.com", "old@example.com", "tunde@example.com"} {
		r := subscribers.Row{Line: i + 2, Subscriber: reader(e, "lagos"), HasStatus: true}
		im.Add(r)
	}
	res, err := im.Write(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Invitees) != 2 || res.Invitees[0].Email != "kemi@example.com" || res.Invitees[1].Email != "tunde@example.com" {
		t.Fatalf("invitees %+v", res.Invitees)
	}
	for _, s := range res.Invitees {
		stored, err := db.SubscriberByEmail(ctx, s.Email)
		if err != nil || stored.ID != s.ID || stored.Status != digest.StatusPending {
			t.Errorf("%s stored as %+v, %v; want pending with id %d", s.Email, stored, err, s.ID)
		}
	}
	inv := inviterFunc(func(_ context.Context, s digest.Subscriber) error {
		if s.Email == "kemi@example.com" {
			return errors.New("smtp down")
		}
		return nil
	})
	var failed []string
	sent := subscribers.InviteAll(ctx, inv, res.Invitees, func(s digest.Subscriber, err error) {
		failed = append(failed, s.Email+": "+err.Error())
	})
	if sent != 1 || !slices.Equal(failed, []string{"kemi@example.com: smtp down"}) {
		t.Errorf("sent %d, failed %v", sent, failed)
	}
}

type inviterFunc func(context.Context, digest.Subscriber) error

func (f inviterFunc) Invite(ctx context.Context, s digest.Subscriber) error { return f(ctx, s) }
