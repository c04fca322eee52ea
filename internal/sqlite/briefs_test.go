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

func TestUpsertBriefRoundTrip(t *testing.T) {
	lagos := time.FixedZone("WAT", 3600)
	tests := []struct {
		name   string
		modify func(*digest.Brief)
	}{
		{"every field", func(*digest.Brief) {}},
		{"no image", func(b *digest.Brief) { b.Image = nil }},
		{"image with only a URL", func(b *digest.Brief) { b.Image = &digest.Image{URL: "https://img.example/x.png"} }},
		{"empty image", func(b *digest.Brief) { b.Image = &digest.Image{} }},
		{"no signals", func(b *digest.Brief) { b.Signals = nil }},
		{"nanoseconds", func(b *digest.Brief) { b.PublishedAt = at(8, 0).Add(987654321) }},
		{"non-UTC zone", func(b *digest.Brief) { b.PublishedAt = time.Date(2026, 3, 1, 9, 15, 0, 5, lagos) }},
		{"empty optional text", func(b *digest.Brief) { b.Lede, b.Body, b.Author, b.Headline = "", "", "", "" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db := openTest(t)
			b := sampleBrief("brief-1", "lagos", at(8, 0))
			tc.modify(&b)

			created, err := db.UpsertBrief(ctx, &b)
			if err != nil || !created {
				t.Fatalf("UpsertBrief = %v, %v; want created", created, err)
			}
			if b.ID == 0 || !b.CreatedAt.Equal(epoch) || !b.UpdatedAt.Equal(epoch) {
				t.Fatalf("after insert: ID %d, CreatedAt %v, UpdatedAt %v; want an id and %v", b.ID, b.CreatedAt, b.UpdatedAt, epoch)
			}

			got, err := briefBySlug(ctx, db, "brief-1")
			if err != nil {
				t.Fatalf("BriefBySlug: %v", err)
			}
			want := b
			want.PublishedAt = b.PublishedAt.UTC()
			if !reflect.DeepEqual(got, want) {
				t.Errorf("round trip changed the brief\n got: %+v\nwant: %+v", got, want)
			}
			if !got.PublishedAt.Equal(b.PublishedAt) {
				t.Errorf("PublishedAt = %v, want the instant %v", got.PublishedAt, b.PublishedAt)
			}
		})
	}
}

func TestUpsertBriefUpdateReplacesEverything(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	first := mustUpsertBrief(t, db, sampleBrief("brief-1", "lagos", at(8, 0)))
	other := mustUpsertBrief(t, db, sampleBrief("brief-2", "lagos", at(9, 0)))

	second := digest.Brief{
		Slug:        "brief-1",
		Region:      "nairobi",
		Headline:    "Corrected headline",
		Lede:        "New lede",
		Body:        "New body",
		Author:      "Second Author",
		PublishedAt: at(8, 30),
		Signals: []digest.Signal{
			{Title: "Only signal", Body: "Now alone", Sources: []digest.Source{{Name: "New source", URL: "https://n.example"}}},
		},
		Image: nil,
	}
	created, err := db.UpsertBrief(ctx, &second)
	if err != nil || created {
		t.Fatalf("UpsertBrief of a known slug = %v, %v; want an update", created, err)
	}
	if second.ID != first.ID {
		t.Errorf("update changed the id from %d to %d", first.ID, second.ID)
	}
	if !second.CreatedAt.Equal(first.CreatedAt) || !second.UpdatedAt.After(first.UpdatedAt) {
		t.Errorf("timestamps after update: created %v (was %v), updated %v (was %v)",
			second.CreatedAt, first.CreatedAt, second.UpdatedAt, first.UpdatedAt)
	}
	got, err := briefBySlug(ctx, db, "brief-1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, second) {
		t.Errorf("after update\n got: %+v\nwant: %+v", got, second)
	}

	// The other brief's signals are untouched, and no stale rows remain.
	gotOther, err := briefBySlug(ctx, db, "brief-2")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotOther, other) {
		t.Errorf("updating brief-1 changed brief-2\n got: %+v\nwant: %+v", gotOther, other)
	}
	var signals, sources int
	if err := db.ro.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM brief_signals WHERE brief_id = ?1),
		(SELECT count(*) FROM signal_sources WHERE brief_id = ?1)`, first.ID).Scan(&signals, &sources); err != nil {
		t.Fatal(err)
	}
	if signals != 1 || sources != 1 {
		t.Errorf("brief-1 has %d signal rows and %d source rows after update, want 1 and 1", signals, sources)
	}
}

func TestUpsertBriefInvalid(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*digest.Brief)
		field  string
	}{
		{"no slug", func(b *digest.Brief) { b.Slug = "" }, "slug"},
		{"no region", func(b *digest.Brief) { b.Region = "" }, "region"},
		{"no published time", func(b *digest.Brief) { b.PublishedAt = time.Time{} }, "published_at"},
		{"year 10000", func(b *digest.Brief) { b.PublishedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "published_at"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := openTest(t)
			b := sampleBrief("bad", "lagos", at(8, 0))
			tc.modify(&b)
			_, err := db.UpsertBrief(context.Background(), &b)
			wantFieldError(t, err, tc.field)
			if all, _ := db.ListBriefSummaries(context.Background(), BriefListFilter{IncludeRemoved: true}); len(all) != 0 {
				t.Errorf("an invalid brief was stored: %+v", all)
			}
		})
	}
}

func TestBriefLookupsNotFound(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	b := mustUpsertBrief(t, db, sampleBrief("here", "lagos", at(8, 0)))

	if _, err := briefBySlug(ctx, db, "missing"); !errors.Is(err, digest.ErrNotFound) {
		t.Errorf("BriefBySlug(missing) err = %v, want ErrNotFound", err)
	}
	if _, err := db.BriefsByID(ctx, []int64{b.ID, b.ID + 100}); !errors.Is(err, digest.ErrNotFound) {
		t.Errorf("BriefsByID with a missing id: err = %v, want ErrNotFound", err)
	}
}

func TestBriefsByIDKeepsOrder(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	var ids []int64
	for i, slug := range []string{"a", "b", "c", "d"} {
		ids = append(ids, mustUpsertBrief(t, db, sampleBrief(slug, "lagos", at(8, i))).ID)
	}
	for _, order := range [][]int64{
		{ids[2], ids[0], ids[3], ids[1]},
		{ids[3]},
		{ids[1], ids[1]},
		{},
	} {
		got, err := db.BriefsByID(ctx, order)
		if err != nil {
			t.Fatalf("BriefsByID(%v): %v", order, err)
		}
		if !slices.Equal(briefIDs(got), order) {
			t.Errorf("BriefsByID(%v) returned ids %v", order, briefIDs(got))
		}
		for _, b := range got {
			if len(b.Signals) != 3 || b.Image == nil {
				t.Errorf("BriefsByID: brief %q not fully loaded: %+v", b.Slug, b)
			}
		}
	}
}

// TestBriefHeadsWindow checks the bounds of BriefHeads: after is
// exclusive, upTo inclusive, to the nanosecond, whatever their zone.
func TestBriefHeadsWindow(t *testing.T) {
	ctx := context.Background()
	db := openTest(t)
	slugOf := map[int64]string{}
	for _, b := range []digest.Brief{
		sampleBrief("lagos-0600", "lagos", at(6, 0)),
		sampleBrief("lagos-0700", "lagos", at(7, 0)),
		sampleBrief("lagos-0700-b", "lagos", at(7, 0)),
		sampleBrief("nairobi-0700", "nairobi", at(7, 0).Add(time.Nanosecond)),
		sampleBrief("nairobi-0800", "nairobi", at(8, 0)),
		sampleBrief("cairo-0730", "cairo", at(7, 30)),
	} {
		slugOf[mustUpsertBrief(t, db, b).ID] = b.Slug
	}
	all := []string{"cairo-0730", "lagos-0600", "lagos-0700", "lagos-0700-b", "nairobi-0700", "nairobi-0800"}

	tests := []struct {
		name        string
		after, upTo time.Time
		want        []string // sorted
	}{
		{"everything", time.Time{}, at(23, 0), all},
		{"after is exclusive", at(6, 0), at(23, 0), []string{"cairo-0730", "lagos-0700", "lagos-0700-b", "nairobi-0700", "nairobi-0800"}},
		{"upTo is inclusive", time.Time{}, at(7, 0), []string{"lagos-0600", "lagos-0700", "lagos-0700-b"}},
		{"one nanosecond before upTo", time.Time{}, at(7, 0).Add(-time.Nanosecond), []string{"lagos-0600"}},
		{"one nanosecond after after", at(7, 0), at(7, 0).Add(time.Nanosecond), []string{"nairobi-0700"}},
		{"empty window", at(7, 0), at(7, 0), nil},
		{"bounds in another zone", at(6, 0).In(time.FixedZone("X", -5*3600)), at(7, 0).In(time.FixedZone("Y", 9*3600)),
			[]string{"lagos-0700", "lagos-0700-b"}},
		{"upTo beyond year 9999", time.Time{}, time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC), all},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hs, err := db.BriefHeads(ctx, tc.after, tc.upTo)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, h := range hs {
				got = append(got, slugOf[h.ID])
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("BriefHeads = %v, want %v", got, tc.want)
			}
		})
	}
}
