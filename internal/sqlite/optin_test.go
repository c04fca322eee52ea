package sqlite

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
)

func TestUpdateSubscriber(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	orig := sampleSubscriber("ada@example.com", "lagos", "bxl")
	orig.Watermark = at(5, 0)
	orig.Consent = digest.Consent{Source: "cli", At: at(4, 0), IP: "192.0.2.1", UserAgent: "curl", TextVersion: "v1"}
	orig = mustCreateSubscriber(t, db, orig)

	s := orig
	s.Email = "someone-else@example.com" // ignored: the address is the identity
	s.Name = "Ada O."
	s.Regions = []string{"sg", "bxl", "lagos"}
	s.TimeZone = "Asia/Singapore"
	s.SendTime = digest.TimeOfDay{Hour: 21, Minute: 5}
	s.Status = digest.StatusUnsubscribed
	s.Watermark = at(23, 0) // ignored: only a sent digest moves it
	s.Consent = digest.Consent{Source: "forged"}
	if err := db.UpdateSubscriber(ctx, &s); err != nil {
		t.Fatalf("UpdateSubscriber: %v", err)
	}
	got, err := db.Subscriber(ctx, orig.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := orig
	want.Name, want.Regions, want.TimeZone, want.SendTime, want.Status = s.Name, s.Regions, s.TimeZone, s.SendTime, s.Status
	want.UpdatedAt = got.UpdatedAt
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after update\n got %+v\nwant %+v", got, want)
	}
	if !got.UpdatedAt.After(orig.UpdatedAt) || !s.UpdatedAt.Equal(got.UpdatedAt) || s.Email != orig.Email || !s.CreatedAt.Equal(orig.CreatedAt) {
		t.Errorf("UpdatedAt %v (was %v), s.UpdatedAt %v, s.Email %q, s.CreatedAt %v", got.UpdatedAt, orig.UpdatedAt, s.UpdatedAt, s.Email, s.CreatedAt)
	}
}

func TestUpdateSubscriberRefuses(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*digest.Subscriber)
		field  string // a *digest.FieldError on this field, or "" for the sentinel
		is     error
	}{
		{"region twice", func(s *digest.Subscriber) { s.Regions = []string{"lagos", "lagos"} }, "regions", nil},
		{"empty region", func(s *digest.Subscriber) { s.Regions = []string{""} }, "regions", nil},
		{"unknown status", func(s *digest.Subscriber) { s.Status = "sleeping" }, "status", nil},
		{"25:00", func(s *digest.Subscriber) { s.SendTime = digest.TimeOfDay{Hour: 25} }, "send_time", nil},
		{"unknown id", func(s *digest.Subscriber) { s.ID = 999 }, "", digest.ErrNotFound},
		{"changed since read", func(s *digest.Subscriber) { s.UpdatedAt = s.UpdatedAt.Add(-time.Second) }, "", digest.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db := openTest(t)
			orig := mustCreateSubscriber(t, db, sampleSubscriber("ada@example.com", "lagos", "bxl"))
			s := orig
			s.Regions = []string{"bxl"}
			tt.modify(&s)
			err := db.UpdateSubscriber(ctx, &s)
			if tt.field != "" {
				wantFieldError(t, err, tt.field)
			} else if !errors.Is(err, tt.is) {
				t.Fatalf("error = %v, want %v", err, tt.is)
			}
			got, err := db.Subscriber(ctx, orig.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, orig) {
				t.Errorf("a refused update changed the subscriber\n got %+v\nwant %+v", got, orig)
			}
		})
	}
}

// An unconditional update (zero UpdatedAt) is what an operator's command
// does; it needs no prior read.
func TestUpdateSubscriberUnconditional(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	orig := mustCreateSubscriber(t, db, sampleSubscriber("ada@example.com", "lagos"))
	s := digest.Subscriber{ID: orig.ID, Regions: []string{"bxl"}, TimeZone: "UTC", SendTime: digest.TimeOfDay{Hour: 8}, Status: digest.StatusActive}
	if err := db.UpdateSubscriber(ctx, &s); err != nil {
		t.Fatal(err)
	}
	got, _ := db.Subscriber(ctx, orig.ID)
	if got.Email != "ada@example.com" || got.Name != "" || got.Regions[0] != "bxl" || got.SendTime.Hour != 8 {
		t.Errorf("after update: %+v", got)
	}
}

func TestConfirmSubscriber(t *testing.T) {
	consent := digest.Consent{IP: "203.0.113.9", UserAgent: "Mozilla/5.0", TextVersion: "2026-01"}
	tests := []struct {
		from    digest.SubscriberStatus
		changed bool
		refused bool // a *digest.FieldError on status, nothing changed
	}{
		{digest.StatusPending, true, false},
		{digest.StatusActive, false, false},
		{digest.StatusExpired, false, true},
		{digest.StatusUnsubscribed, false, true},
		{digest.StatusBounced, false, true},
	}
	for _, tt := range tests {
		t.Run(string(tt.from), func(t *testing.T) {
			ctx := context.Background()
			db := openTest(t)
			s := sampleSubscriber("ada@example.com", "lagos")
			s.Status = tt.from
			s.Consent = digest.Consent{Source: "cli"}
			orig := mustCreateSubscriber(t, db, s)

			changed, err := db.ConfirmSubscriber(ctx, orig.ID, consent)
			if tt.refused {
				wantFieldError(t, err, "status")
			} else if err != nil {
				t.Fatalf("ConfirmSubscriber: %v", err)
			}
			if changed != tt.changed {
				t.Errorf("changed = %v, want %v", changed, tt.changed)
			}
			got, err := db.Subscriber(ctx, orig.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.changed {
				if !reflect.DeepEqual(got, orig) {
					t.Errorf("subscriber changed\n got %+v\nwant %+v", got, orig)
				}
				return
			}
			if got.Status != digest.StatusActive || got.Consent.ConfirmedAt.IsZero() || !got.Consent.At.Equal(got.Consent.ConfirmedAt) ||
				got.Consent.IP != consent.IP || got.Consent.UserAgent != consent.UserAgent ||
				got.Consent.TextVersion != consent.TextVersion || got.Consent.Source != "cli" {
				t.Errorf("after confirming: status %s, consent %+v", got.Status, got.Consent)
			}
			// A second confirmation (a reload, a second click) is a no-op.
			again, err := db.ConfirmSubscriber(ctx, orig.ID, digest.Consent{IP: "198.51.100.1"})
			if err != nil || again {
				t.Errorf("second confirmation: changed %v, err %v", again, err)
			}
			if after, _ := db.Subscriber(ctx, orig.ID); !reflect.DeepEqual(after, got) {
				t.Errorf("second confirmation changed the record\n got %+v\nwant %+v", after, got)
			}
		})
	}
	db := openTest(t)
	if _, err := db.ConfirmSubscriber(context.Background(), 42, consent); !errors.Is(err, digest.ErrNotFound) {
		t.Errorf("unknown subscriber: %v, want ErrNotFound", err)
	}
}

func TestExpirePending(t *testing.T) {
	ctx := context.Background()
	db := openTest(t) // each write one second after the last, from epoch
	mk := func(email string, status digest.SubscriberStatus) digest.Subscriber {
		s := sampleSubscriber(email, "lagos")
		s.Status = status
		return mustCreateSubscriber(t, db, s)
	}
	old := mk("old@example.com", digest.StatusPending)            // epoch
	oldActive := mk("active@example.com", digest.StatusActive)    // +1s
	oldUnsub := mk("gone@example.com", digest.StatusUnsubscribed) // +2s
	edge := mk("edge@example.com", digest.StatusPending)          // +3s: not before the cut-off
	young := mk("young@example.com", digest.StatusPending)        // +4s

	n, err := db.ExpirePending(ctx, epoch.Add(3*time.Second))
	if err != nil || n != 1 {
		t.Fatalf("ExpirePending: %d, %v; want 1", n, err)
	}
	want := map[int64]digest.SubscriberStatus{
		old.ID: digest.StatusExpired, oldActive.ID: digest.StatusActive, oldUnsub.ID: digest.StatusUnsubscribed,
		edge.ID: digest.StatusPending, young.ID: digest.StatusPending,
	}
	for id, status := range want {
		if got, _ := db.Subscriber(ctx, id); got.Status != status {
			t.Errorf("subscriber %s: %s, want %s", got.Email, got.Status, status)
		}
	}
	if n, err := db.ExpirePending(ctx, epoch.Add(3*time.Second)); err != nil || n != 0 {
		t.Errorf("second run: %d, %v; want 0", n, err)
	}
	if _, err := db.ConfirmSubscriber(ctx, old.ID, digest.Consent{}); err == nil {
		t.Error("an expired subscriber was confirmed")
	}
	if n, err := db.ExpirePending(ctx, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil || n != 2 {
		t.Errorf("far-future cut-off: %d, %v; want the two left", n, err)
	}
}
