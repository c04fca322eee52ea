package preview_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/preview"
	"github.com/newsroom/digest/internal/sqlite"
	"github.com/newsroom/digest/internal/subscribers"
)

func TestTargetResolve(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "digest.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	d := subscribers.Defaults{SendTime: digest.TimeOfDay{Hour: 6, Minute: 30}, Regions: regions(t)}
	ada := digest.Subscriber{Email: "ada@example.com", Name: "Ada", Regions: []string{"lagos", "bxl"}, TimeZone: "Africa/Lagos",
		SendTime: digest.TimeOfDay{Hour: 7}, Status: digest.StatusActive}
	if err := db.CreateSubscriber(ctx, &ada); err != nil {
		t.Fatal(err)
	}

	got, err := preview.Target{Email: "ada@example.com"}.Resolve(ctx, db, d)
	if err != nil || got.ID != ada.ID || got.Email != ada.Email {
		t.Errorf("stored reader: %+v, %v", got, err)
	}
	if _, err := (preview.Target{Email: "nobody@example.com"}).Resolve(ctx, db, d); !errors.Is(err, digest.ErrNotFound) {
		t.Errorf("a reader not stored: %v", err)
	}

	got, err = preview.Target{Regions: []string{"bxl", "lagos"}}.Resolve(ctx, db, d)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != 0 || got.Email != preview.MadeUpEmail || !slices.Equal(got.Regions, []string{"bxl", "lagos"}) ||
		got.TimeZone != "Europe/Brussels" || got.SendTime != d.SendTime || got.Status != digest.StatusActive {
		t.Errorf("made-up reader %+v: want ID 0, %s, bxl,lagos in Europe/Brussels at 06:30, active", got, preview.MadeUpEmail)
	}
	if got, err := (preview.Target{Regions: []string{"sg"}, TimeZone: "Europe/Paris"}).Resolve(ctx, db, d); err != nil || got.TimeZone != "Europe/Paris" {
		t.Errorf("made-up reader with a zone: %+v, %v", got, err)
	}

	// Every target that names no possible reader is a field error, as a
	// new subscriber's would be.
	for _, bad := range []preview.Target{
		{Email: "ada@example.com", Regions: []string{"bxl"}},
		{Email: "ada@example.com", TimeZone: "Europe/Paris"},
		{},
		{Regions: []string{"bxl", "mars"}},
		{Regions: []string{"bxl", "bxl"}},
		{Regions: []string{"bxl"}, TimeZone: "Mars/Olympus"},
		{Regions: []string{"bxl"}, TimeZone: "Local"},
	} {
		var fe *digest.FieldError
		if _, err := bad.Resolve(ctx, db, d); !errors.As(err, &fe) {
			t.Errorf("%+v: %v, want a *digest.FieldError", bad, err)
		}
	}
}
