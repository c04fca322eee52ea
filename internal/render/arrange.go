package render

import (
	"cmp"
	"slices"

	digest "github.com/newsroom/digest"
)

// Section is one region of a digest with the briefs shown under it, in
// display order.
type Section struct {
	Region digest.Region
	Briefs []digest.Brief
}

// Arrange groups briefs by region in the reader's region order (order holds
// region codes), newest first within a region; briefs published at the same
// instant show the higher ID first so the order is total and repeatable.
// Briefs of regions missing from order, and codes of order missing from
// regions, are dropped; regions without briefs get no section. The delivery
// pass records brief IDs in this order, so what a reader saw can be
// reconstructed. briefs is not modified.
func Arrange(regions digest.Regions, order []string, briefs []digest.Brief) []Section {
	byRegion := make(map[string][]digest.Brief)
	for _, b := range briefs {
		byRegion[b.Region] = append(byRegion[b.Region], b)
	}
	var sections []Section
	seen := make(map[string]bool, len(order))
	for _, code := range order {
		if seen[code] {
			continue
		}
		seen[code] = true
		region, ok := regions.Lookup(code)
		if !ok || len(byRegion[code]) == 0 {
			continue
		}
		list := byRegion[code]
		slices.SortStableFunc(list, func(a, b digest.Brief) int { return NewestFirst(&a, &b) })
		sections = append(sections, Section{Region: region, Briefs: list})
	}
	return sections
}

// NewestFirst is the order of briefs within a region of a digest:
// publication time, latest first, then ID, highest first. Planning uses it
// too, to record brief IDs in the order the reader sees them.
func NewestFirst(a, b *digest.Brief) int {
	if c := b.PublishedAt.Compare(a.PublishedAt); c != 0 {
		return c
	}
	return cmp.Compare(b.ID, a.ID)
}
