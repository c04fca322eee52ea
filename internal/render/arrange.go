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
	var sections []Section
	arrange(regions, order, briefs, func(region digest.Region, idx []int) {
		list := make([]digest.Brief, len(idx))
		for k, i := range idx {
			list[k] = briefs[i]
		}
		sections = append(sections, Section{Region: region, Briefs: list})
	})
	return sections
}

// arrange is Arrange by index: it calls section for each region shown, in
// order, with the indices in briefs of its briefs in display order (idx is
// reused between calls). GroupKey reads the order this way without copying
// every brief.
func arrange(regions digest.Regions, order []string, briefs []digest.Brief, section func(region digest.Region, idx []int)) {
	idx := make([]int, 0, len(briefs))
	for i, code := range order {
		if slices.Contains(order[:i], code) {
			continue
		}
		region, ok := regions.Lookup(code)
		if !ok {
			continue
		}
		idx = idx[:0]
		for j := range briefs {
			if briefs[j].Region == code {
				idx = append(idx, j)
			}
		}
		if len(idx) == 0 {
			continue
		}
		slices.SortStableFunc(idx, func(a, b int) int { return NewestFirst(&briefs[a], &briefs[b]) })
		section(region, idx)
	}
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
