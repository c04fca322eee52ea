package sqlite

import (
	"context"
	"errors"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
)

func TestSaveBriefs(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	a := sampleBrief("a", "lagos", at(5, 0))
	b := sampleBrief("b", "bxl", at(6, 0))
	changes, err := db.SaveBriefs(ctx, []digest.Brief{a, b}, SaveOptions{})
	if err != nil || changes[0] != BriefAdded || changes[1] != BriefAdded {
		t.Fatalf("first save = %v, %v; want added, added", changes, err)
	}
	stored, _ := briefBySlug(ctx, db, "a")

	edited := b
	edited.Signals = append([]digest.Signal(nil), b.Signals...)
	edited.Signals[0].Sources = []digest.Source{{Name: "Only source"}}
	tests := []struct {
		name   string
		bs     []digest.Brief
		opts   SaveOptions
		want   []BriefChange
		wantB0 string // the signal's first source name of b after the call
	}{
		{"dry run reports, writes nothing", []digest.Brief{a, edited}, SaveOptions{DryRun: true}, []BriefChange{BriefUnchanged, BriefUpdated}, "Reuters"},
		{"unchanged and updated", []digest.Brief{a, edited}, SaveOptions{}, []BriefChange{BriefUnchanged, BriefUpdated}, "Only source"},
		{"again: all unchanged", []digest.Brief{a, edited}, SaveOptions{}, []BriefChange{BriefUnchanged, BriefUnchanged}, "Only source"},
		{"rewrite reports updated", []digest.Brief{a}, SaveOptions{Rewrite: true}, []BriefChange{BriefUpdated}, "Only source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.SaveBriefs(ctx, tt.bs, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tt.want {
				if got[i] != tt.want[i] {
					t.Errorf("brief %s: %s, want %s", tt.bs[i].Slug, got[i], tt.want[i])
				}
			}
			sb, _ := briefBySlug(ctx, db, "b")
			if n := sb.Signals[0].Sources[0].Name; n != tt.wantB0 {
				t.Errorf("stored b's first source = %q, want %q", n, tt.wantB0)
			}
		})
	}
	after, _ := briefBySlug(ctx, db, "a")
	if !after.UpdatedAt.After(stored.UpdatedAt) {
		t.Errorf("rewrite did not bump updated_at")
	}

	// An invalid brief among valid ones: nothing is written.
	c := sampleBrief("c", "lagos", at(7, 0))
	bad := sampleBrief("", "lagos", at(7, 0))
	if _, err := db.SaveBriefs(ctx, []digest.Brief{c, bad}, SaveOptions{}); err == nil {
		t.Fatal("saved a brief without a slug")
	}
	if _, err := briefBySlug(ctx, db, "c"); !errors.Is(err, digest.ErrNotFound) {
		t.Errorf("c was stored although the batch failed: %v", err)
	}
}

func TestUnchangedKeepsUpdatedAt(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	a := sampleBrief("a", "lagos", at(5, 0))
	if _, err := db.SaveBriefs(ctx, []digest.Brief{a}, SaveOptions{}); err != nil {
		t.Fatal(err)
	}
	before, _ := briefBySlug(ctx, db, "a")
	a.PublishedAt = a.PublishedAt.In(time.FixedZone("x", 3600)) // the same instant
	if ch, err := db.SaveBriefs(ctx, []digest.Brief{a}, SaveOptions{}); err != nil || ch[0] != BriefUnchanged {
		t.Fatalf("same brief again = %v, %v", ch, err)
	}
	after, _ := briefBySlug(ctx, db, "a")
	if !after.UpdatedAt.Equal(before.UpdatedAt) {
		t.Errorf("updated_at moved from %v to %v for an unchanged brief", before.UpdatedAt, after.UpdatedAt)
	}
}

func TestRemoveBrief(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	mustUpsertBrief(t, db, sampleBrief("unsent", "lagos", at(4, 0)))
	sent := mustUpsertBrief(t, db, sampleBrief("sent", "lagos", at(5, 0)))
	planned := mustUpsertBrief(t, db, sampleBrief("planned", "lagos", at(5, 30)))
	ada := mustCreateSubscriber(t, db, sampleSubscriber("ada@example.com", "lagos"))
	ben := mustCreateSubscriber(t, db, sampleSubscriber("ben@example.com", "lagos"))
	cat := mustCreateSubscriber(t, db, sampleSubscriber("cat@example.com", "lagos"))

	d := mustCreateDelivery(t, db, sampleDelivery(ada.ID, "2026-03-01", at(6, 0), sent.ID))
	if err := db.MarkDeliverySent(ctx, d.ID, at(6, 1), "250 ok"); err != nil {
		t.Fatal(err)
	}
	// Queued: one carries planned and sent, one only planned.
	both := mustCreateDelivery(t, db, sampleDelivery(ben.ID, "2026-03-01", at(6, 0), planned.ID, sent.ID))
	only := mustCreateDelivery(t, db, sampleDelivery(cat.ID, "2026-03-01", at(6, 0), planned.ID))

	r, err := db.RemoveBrief(ctx, "unsent")
	if err != nil || !r.Deleted {
		t.Fatalf("remove an unsent brief = %+v, %v; want deleted", r, err)
	}
	if _, err := briefBySlug(ctx, db, "unsent"); !errors.Is(err, digest.ErrNotFound) {
		t.Errorf("unsent brief still there: %v", err)
	}

	r, err = db.RemoveBrief(ctx, "planned")
	if err != nil || !r.Deleted || r.Unplanned != 2 || r.Suppressed != 1 {
		t.Fatalf("remove a brief only queued deliveries carry = %+v, %v; want deleted, out of 2, 1 suppressed", r, err)
	}
	if got, _ := db.Delivery(ctx, both.ID); got.Status != digest.DeliveryQueued || len(got.BriefIDs) != 1 || got.BriefIDs[0] != sent.ID {
		t.Errorf("delivery with another brief = %s %v, want queued with only %d", got.Status, got.BriefIDs, sent.ID)
	}
	if got, _ := db.Delivery(ctx, only.ID); got.Status != digest.DeliverySuppressed {
		t.Errorf("delivery left empty = %s, want suppressed", got.Status)
	}

	r, err = db.RemoveBrief(ctx, "sent")
	if err != nil || r.Deleted || r.RemovedAt.IsZero() || r.Carried != 1 || r.Unplanned != 1 || r.Suppressed != 1 {
		t.Fatalf("remove a sent brief = %+v, %v; want marked, carried by 1, out of 1 queued", r, err)
	}
	rec, err := db.BriefRecordBySlug(ctx, "sent")
	if err != nil || rec.RemovedAt.IsZero() || rec.Deliveries[digest.DeliverySent] != 1 || rec.FirstSentAt.IsZero() {
		t.Errorf("record of the removed brief = %+v, %v", rec, err)
	}
	if ids := notSent(t, db, cat.ID, []string{"lagos"}, at(0, 0), at(23, 0)); len(ids) != 0 {
		t.Errorf("the removed brief is still chosen: %v", ids)
	}
	if hs, err := db.BriefHeads(ctx, at(0, 0), at(23, 0)); err != nil || len(hs) != 1 || !hs[0].Removed {
		t.Errorf("BriefHeads = %+v, %v; want the sent brief, marked removed", hs, err)
	}
	if ls, _ := db.ListBriefSummaries(ctx, BriefListFilter{}); len(ls) != 0 {
		t.Errorf("listing shows removed briefs: %+v", ls)
	}
	if ls, _ := db.ListBriefSummaries(ctx, BriefListFilter{IncludeRemoved: true}); len(ls) != 1 || ls[0].SentTo != 1 {
		t.Errorf("listing with removed = %+v, want the sent brief, sent to 1", ls)
	}
	if r, err := db.RemoveBrief(ctx, "sent"); err != nil || !r.AlreadyRemoved {
		t.Errorf("removing again = %+v, %v; want already removed", r, err)
	}
	if _, err := db.RemoveBrief(ctx, "nope"); !errors.Is(err, digest.ErrNotFound) {
		t.Errorf("remove unknown slug: %v", err)
	}

	// Re-adding brings it back.
	ch, err := db.SaveBriefs(ctx, []digest.Brief{sampleBrief("sent", "lagos", at(5, 0))}, SaveOptions{})
	if err != nil || ch[0] != BriefRestored {
		t.Fatalf("re-adding a removed brief = %v, %v; want restored", ch, err)
	}
	if ls, _ := db.ListBriefSummaries(ctx, BriefListFilter{}); len(ls) != 1 || !ls[0].RemovedAt.IsZero() {
		t.Errorf("restored brief not listed as live: %+v", ls)
	}
}

func TestListBriefSummaries(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	for _, b := range []digest.Brief{
		sampleBrief("l1", "lagos", at(1, 0)),
		sampleBrief("b1", "bxl", at(2, 0)),
		sampleBrief("l2", "lagos", at(3, 0)),
	} {
		mustUpsertBrief(t, db, b)
	}
	tests := []struct {
		name string
		f    BriefListFilter
		want []string
	}{
		{"all, newest first", BriefListFilter{}, []string{"l2", "b1", "l1"}},
		{"region", BriefListFilter{Region: "lagos"}, []string{"l2", "l1"}},
		{"since", BriefListFilter{Since: at(2, 0)}, []string{"l2", "b1"}},
		{"limit", BriefListFilter{Limit: 1}, []string{"l2"}},
		{"region, since and limit", BriefListFilter{Region: "lagos", Since: at(1, 0), Limit: 1}, []string{"l2"}},
		{"nothing matches", BriefListFilter{Region: "oslo"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ls, err := db.ListBriefSummaries(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range ls {
				got = append(got, l.Slug)
				if l.Signals != 3 {
					t.Errorf("%s: %d signals, want 3", l.Slug, l.Signals)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}
