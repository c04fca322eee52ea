package sqlite

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
)

func TestCreateSubscriberRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*digest.Subscriber)
	}{
		{"regions keep their order", func(s *digest.Subscriber) { s.Regions = []string{"nairobi", "lagos", "cairo"} }},
		{"reverse order", func(s *digest.Subscriber) { s.Regions = []string{"cairo", "lagos", "nairobi"} }},
		{"no regions", func(s *digest.Subscriber) { s.Regions = nil }},
		{"midnight send time", func(s *digest.Subscriber) { s.SendTime = digest.TimeOfDay{} }},
		{"late send time", func(s *digest.Subscriber) { s.SendTime = digest.TimeOfDay{Hour: 23, Minute: 59} }},
		{"pending", func(s *digest.Subscriber) { s.Status = digest.StatusPending }},
		{"imported with a watermark", func(s *digest.Subscriber) { s.Watermark = at(5, 0).Add(42) }},
		{"mixed-case email kept as given", func(s *digest.Subscriber) { s.Email = "Mixed.Case@Example.COM" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := openTest(t)
			s := sampleSubscriber("reader@example.com", "lagos")
			tc.modify(&s)
			if err := db.CreateSubscriber(ctx, &s); err != nil {
				t.Fatalf("CreateSubscriber: %v", err)
			}
			if s.ID == 0 || !s.CreatedAt.Equal(epoch) || !s.UpdatedAt.Equal(epoch) {
				t.Fatalf("after create: ID %d, CreatedAt %v, UpdatedAt %v", s.ID, s.CreatedAt, s.UpdatedAt)
			}
			got, err := db.Subscriber(ctx, s.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, s) {
				t.Errorf("round trip changed the subscriber\n got: %+v\nwant: %+v", got, s)
			}
			byEmail, err := db.SubscriberByEmail(ctx, s.Email)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(byEmail, s) {
				t.Errorf("SubscriberByEmail\n got: %+v\nwant: %+v", byEmail, s)
			}
		})
	}
}

// Addresses are compared after Unicode lowercasing, without Unicode
// normalisation.
func TestSubscriberEmailUniqueness(t *testing.T) {
	tests := []struct {
		name          string
		first, second string
		conflict      bool
	}{
		{"ASCII case", "Ana@Example.com", "ana@example.com", true},
		{"ASCII case, upper second", "ana@example.com", "ANA@EXAMPLE.COM", true},
		{"same address", "ana@example.com", "ana@example.com", true},
		{"non-ASCII case", "ÄNNE@example.com", "änne@example.com", true},
		{"Cyrillic case", "ИВАН@пример.рф", "иван@пример.рф", true},
		{"different addresses", "ana@example.com", "anna@example.com", false},
		{"umlaut is not its base letter", "anne@example.com", "änne@example.com", false},
		{"decomposed umlaut is another address", "\u00e4nne@example.com", "a\u0308nne@example.com", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := openTest(t)
			first := mustCreateSubscriber(t, db, sampleSubscriber(tc.first, "lagos"))

			second := sampleSubscriber(tc.second, "nairobi")
			err := db.CreateSubscriber(ctx, &second)
			if tc.conflict {
				if !errors.Is(err, digest.ErrConflict) {
					t.Fatalf("CreateSubscriber(%q) after %q: err = %v, want ErrConflict", tc.second, tc.first, err)
				}
				got, err := db.SubscriberByEmail(ctx, tc.second)
				if err != nil {
					t.Fatalf("SubscriberByEmail(%q): %v", tc.second, err)
				}
				if got.ID != first.ID || got.Email != tc.first || !slices.Equal(got.Regions, []string{"lagos"}) {
					t.Errorf("SubscriberByEmail(%q) = %+v, want the first subscriber unchanged", tc.second, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("CreateSubscriber(%q) after %q: %v", tc.second, tc.first, err)
			}
			got, err := db.SubscriberByEmail(ctx, tc.second)
			if err != nil || got.ID != second.ID {
				t.Errorf("SubscriberByEmail(%q) = %d, %v; want subscriber %d", tc.second, got.ID, err, second.ID)
			}
		})
	}
}

func TestCreateSubscriberInvalid(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*digest.Subscriber)
		field  string
	}{
		{"no email", func(s *digest.Subscriber) { s.Email = "" }, "email"},
		{"email not UTF-8", func(s *digest.Subscriber) { s.Email = "a\xffb@example.com" }, "email"},
		{"no status", func(s *digest.Subscriber) { s.Status = "" }, "status"},
		{"unknown status", func(s *digest.Subscriber) { s.Status = "paused" }, "status"},
		{"send hour 24", func(s *digest.Subscriber) { s.SendTime = digest.TimeOfDay{Hour: 24} }, "send_time"},
		{"send minute 60", func(s *digest.Subscriber) { s.SendTime = digest.TimeOfDay{Hour: 7, Minute: 60} }, "send_time"},
		{"region twice", func(s *digest.Subscriber) { s.Regions = []string{"lagos", "cairo", "lagos"} }, "regions"},
		{"empty region", func(s *digest.Subscriber) { s.Regions = []string{"lagos", ""} }, "regions"},
		{"watermark year 0", func(s *digest.Subscriber) { s.Watermark = time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC) }, "watermark"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openTest(t)
			s := sampleSubscriber("bad@example.com", "lagos")
			tc.modify(&s)
			wantFieldError(t, db.CreateSubscriber(context.Background(), &s), tc.field)
			if all, _ := db.ListSubscribers(context.Background(), SubscriberFilter{}); len(all) != 0 {
				t.Errorf("an invalid subscriber was stored: %+v", all)
			}
		})
	}
}

func TestSubscriberNotFound(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	if _, err := db.Subscriber(ctx, 42); !errors.Is(err, digest.ErrNotFound) {
		t.Errorf("Subscriber(42) err = %v, want ErrNotFound", err)
	}
	if _, err := db.SubscriberByEmail(ctx, "nobody@example.com"); !errors.Is(err, digest.ErrNotFound) {
		t.Errorf("SubscriberByEmail err = %v, want ErrNotFound", err)
	}
}

func TestListSubscribers(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	mk := func(email string, status digest.SubscriberStatus, regions ...string) int64 {
		s := sampleSubscriber(email, regions...)
		s.Status = status
		return mustCreateSubscriber(t, db, s).ID
	}
	a := mk("a@example.com", digest.StatusActive, "lagos", "cairo")
	b := mk("b@example.com", digest.StatusPending, "cairo")
	c := mk("c@example.com", digest.StatusActive, "nairobi")
	d := mk("d@example.com", digest.StatusBounced, "lagos")
	e := mk("e@example.com", digest.StatusActive, "cairo", "lagos")

	tests := []struct {
		name string
		f    SubscriberFilter
		want []int64
	}{
		{"all", SubscriberFilter{}, []int64{a, b, c, d, e}},
		{"active", SubscriberFilter{Status: digest.StatusActive}, []int64{a, c, e}},
		{"region", SubscriberFilter{Region: "lagos"}, []int64{a, d, e}},
		{"active in region", SubscriberFilter{Status: digest.StatusActive, Region: "cairo"}, []int64{a, e}},
		{"nobody", SubscriberFilter{Status: digest.StatusUnsubscribed}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := db.ListSubscribers(ctx, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, s := range got {
				ids = append(ids, s.ID)
			}
			if !slices.Equal(ids, tc.want) {
				t.Errorf("ListSubscribers(%+v) = %v, want %v", tc.f, ids, tc.want)
			}
		})
	}

	active, err := activeSubscribers(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(active) != 3 || active[0].ID != a || !slices.Equal(active[0].Regions, []string{"lagos", "cairo"}) ||
		!slices.Equal(active[2].Regions, []string{"cairo", "lagos"}) {
		t.Errorf("ActiveSubscribers = %+v, want a, c, e with their regions in order", active)
	}
}

func TestUnsubscribe(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	s := mustCreateSubscriber(t, db, sampleSubscriber("leaving@example.com", "lagos"))

	changed, err := db.Unsubscribe(ctx, s.ID)
	if err != nil || !changed {
		t.Fatalf("first Unsubscribe = %v, %v; want changed", changed, err)
	}
	after, err := db.Subscriber(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if after.Status != digest.StatusUnsubscribed || !after.UpdatedAt.After(s.UpdatedAt) {
		t.Errorf("after Unsubscribe: status %q, updated %v (was %v)", after.Status, after.UpdatedAt, s.UpdatedAt)
	}

	changed, err = db.Unsubscribe(ctx, s.ID)
	if err != nil || changed {
		t.Fatalf("second Unsubscribe = %v, %v; want unchanged, no error", changed, err)
	}
	again, err := db.Subscriber(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, after) {
		t.Errorf("second Unsubscribe changed the record\n got: %+v\nwant: %+v", again, after)
	}

	if _, err := db.Unsubscribe(ctx, s.ID+1); !errors.Is(err, digest.ErrNotFound) {
		t.Errorf("Unsubscribe of a missing id: err = %v, want ErrNotFound", err)
	}
	if active, _ := activeSubscribers(ctx, db); len(active) != 0 {
		t.Errorf("ActiveSubscribers after unsubscribing = %+v, want none", active)
	}
}

func TestSubscriberConsentRoundTrip(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	s := sampleSubscriber("consent@example.com", "lagos", "bxl")
	s.Status = digest.StatusPending
	s.Consent = digest.Consent{Source: "web", At: at(6, 1), IP: "203.0.113.7", UserAgent: "Mozilla/5.0 (X11)",
		TextVersion: "2026-11", ConfirmedAt: at(6, 2)}
	if err := db.CreateSubscriber(ctx, &s); err != nil {
		t.Fatal(err)
	}
	got, err := db.Subscriber(ctx, s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Consent != s.Consent {
		t.Errorf("consent round trip:\n got %+v\nwant %+v", got.Consent, s.Consent)
	}
	e := sampleSubscriber("expired@example.com", "lagos")
	e.Status = digest.StatusExpired
	if err := db.CreateSubscriber(ctx, &e); err != nil {
		t.Errorf("the expired status: %v", err)
	}
}
