package subscribers_test

import (
	"context"
	"errors"
	"testing"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/subscribers"
)

var manageDefaults = subscribers.Defaults{
	SendTime: digest.TimeOfDay{Hour: 6},
	Regions:  digest.Regions{{Code: "lagos", TimeZone: "Africa/Lagos"}, {Code: "bxl", TimeZone: "Europe/Brussels"}},
}

func TestAdd(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)

	sub := reader("ada@example.com", "lagos")
	if err := subscribers.Add(ctx, db, &sub); err != nil {
		t.Fatal(err)
	}
	if sub.ID == 0 {
		t.Error("Add did not set the ID")
	}
	if got, err := db.SubscriberByEmail(ctx, "ada@example.com"); err != nil || got.ID != sub.ID {
		t.Errorf("stored %+v, %v", got, err)
	}

	again := reader("ADA@example.com", "bxl")
	err := subscribers.Add(ctx, db, &again)
	var exists *subscribers.ExistsError
	if !errors.As(err, &exists) || !errors.Is(err, digest.ErrConflict) || err.Error() != "subscriber ADA@example.com already exists" {
		t.Errorf("adding a stored address: %v", err)
	}

	for _, tc := range []struct {
		name, email, reason string
		setup               func(t *testing.T)
	}{
		{"suppressed", "kemi@example.com", "complaint", func(t *testing.T) {
			if err := db.Suppress(ctx, "kemi@example.com", "complaint"); err != nil {
				t.Fatal(err)
			}
		}},
		{"erased", "ada@example.com", "erased", func(t *testing.T) {
			if err := db.EraseSubscriber(ctx, "ada@example.com"); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup(t)
			s := reader(tc.email, "lagos")
			err := subscribers.Add(ctx, db, &s)
			var se *subscribers.SuppressedError
			if !errors.As(err, &se) || se.Email != tc.email {
				t.Fatalf("adding a %s address: %v", tc.name, err)
			}
			if _, err := db.SubscriberByEmail(ctx, tc.email); !errors.Is(err, digest.ErrNotFound) {
				t.Errorf("a %s address was stored: %v", tc.name, err)
			}
		})
	}
}

func TestChange(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	ada := reader("ada@example.com", "lagos")
	ada.Status = digest.StatusUnsubscribed
	create(t, db, ada)
	active := digest.StatusActive
	zone := "Europe/Paris"

	if _, err := subscribers.Change(ctx, db, "nobody@example.com", subscribers.Changes{TimeZone: &zone}, manageDefaults); !errors.Is(err, digest.ErrNotFound) {
		t.Errorf("changing a reader not stored: %v", err)
	}
	bad := "Mars/Olympus"
	var fe *digest.FieldError
	if _, err := subscribers.Change(ctx, db, "ada@example.com", subscribers.Changes{TimeZone: &bad}, manageDefaults); !errors.As(err, &fe) || fe.Field != "timezone" {
		t.Errorf("an unknown zone: %v", err)
	}

	got, err := subscribers.Change(ctx, db, "ada@example.com", subscribers.Changes{TimeZone: &zone}, manageDefaults)
	if err != nil || got.TimeZone != zone || got.Status != digest.StatusUnsubscribed {
		t.Fatalf("change zone: %+v, %v", got, err)
	}
	if stored, _ := db.SubscriberByEmail(ctx, "ada@example.com"); stored.TimeZone != zone {
		t.Errorf("stored zone %q", stored.TimeZone)
	}

	if err := db.Suppress(ctx, "ada@example.com", "operator"); err != nil {
		t.Fatal(err)
	}
	// A suppressed reader keeps other settings changeable, but is not made
	// active until the suppression is lifted.
	name := "Ada"
	if _, err := subscribers.Change(ctx, db, "ada@example.com", subscribers.Changes{Name: &name}, manageDefaults); err != nil {
		t.Errorf("renaming a suppressed reader: %v", err)
	}
	var se *subscribers.SuppressedError
	if _, err := subscribers.Change(ctx, db, "ada@example.com", subscribers.Changes{Status: &active}, manageDefaults); !errors.As(err, &se) || se.Reason != "operator" {
		t.Errorf("activating a suppressed reader: %v", err)
	}
	if stored, _ := db.SubscriberByEmail(ctx, "ada@example.com"); stored.Status != digest.StatusUnsubscribed {
		t.Errorf("suppressed reader is %s", stored.Status)
	}
	if _, err := db.Unsuppress(ctx, "ada@example.com"); err != nil {
		t.Fatal(err)
	}
	if got, err := subscribers.Change(ctx, db, "ada@example.com", subscribers.Changes{Status: &active}, manageDefaults); err != nil || got.Status != digest.StatusActive {
		t.Errorf("activating after unsuppress: %+v, %v", got, err)
	}
}
