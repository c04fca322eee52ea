package render

import (
	"slices"

	digest "github.com/newsroom/digest"
)

// section is one region of a digest with the briefs shown under it, in
// display order.
type section struct {
	Region digest.Region
	Briefs []digest.Brief
}

// sections groups briefs by region in the reader's region order (order
// holds region codes), each region's briefs in digest.NewestFirst order.
// Briefs of regions missing from order, and codes of order missing from
// regions, are dropped; regions without briefs get no section. The delivery
// pass records brief IDs in this order, so what a reader saw can be
// reconstructed. briefs is not modified.
func sections(regions digest.Regions, order []string, briefs []digest.Brief) []section {
	var out []section
	arrange(regions, order, briefs, func(region digest.Region, idx []int) {
		list := make([]digest.Brief, len(idx))
		for k, i := range idx {
			list[k] = briefs[i]
		}
		out = append(out, section{Region: region, Briefs: list})
	})
	return out
}

// arrange is sections by index: it calls emit for each region shown, in
// order, with the indices in briefs of its briefs in display order (idx is
// reused between calls). GroupKey reads the order this way without copying
// every brief.
func arrange(regions digest.Regions, order []string, briefs []digest.Brief, emit func(region digest.Region, idx []int)) {
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
		slices.SortStableFunc(idx, func(a, b int) int { return digest.NewestFirst(head(&briefs[a]), head(&briefs[b])) })
		emit(region, idx)
	}
}

// head is what digest.NewestFirst orders a brief by.
func head(b *digest.Brief) digest.BriefHead {
	return digest.BriefHead{ID: b.ID, PublishedAt: b.PublishedAt}
}
