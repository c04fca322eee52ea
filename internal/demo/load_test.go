package demo

import (
	"context"
	"path/filepath"
	"testing"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/sqlite"
	"github.com/newsroom/digest/internal/subscribers"
)

// Load stores every sample in a real database; loading twice refuses the
// second set of readers instead of doubling them.
func TestLoad(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "demo.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	d := subscribers.Defaults{SendTime: digest.TimeOfDay{Hour: 6}, Regions: regions(t)}
	bs, subs, err := Load(ctx, db, d)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) < 12 || len(subs) < 5 {
		t.Fatalf("loaded %d briefs and %d subscribers", len(bs), len(subs))
	}
	for _, s := range subs {
		got, err := db.SubscriberByEmail(ctx, s.Email)
		if err != nil || got.ID != s.ID || s.ID == 0 {
			t.Errorf("%s stored as %+v, %v; loaded with id %d", s.Email, got, err, s.ID)
		}
	}
	if _, _, err := Load(ctx, db, d); err == nil {
		t.Error("a second load stored the same readers again")
	}
}
