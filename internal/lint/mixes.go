package lint

import (
	"math/bits"
	"sort"

	digest "github.com/newsroom/digest"
)

// RegionMixes returns every non-empty subset of regions a reader can
// choose, each in configuration order: the single regions first, then
// pairs, and so on; within one size, by the first region that differs.
// It stops at the first 16 regions: 65,535 mixes is already more than
// anyone reads.
func RegionMixes(regions digest.Regions) [][]string {
	n := len(regions)
	if n > 16 {
		n = 16
	}
	masks := make([]uint, 0, 1<<n-1)
	for m := uint(1); m < 1<<n; m++ {
		masks = append(masks, m)
	}
	// Within one size, order by the first region that differs: the lowest
	// set bit comes first in configuration order.
	sort.SliceStable(masks, func(i, j int) bool {
		ci, cj := bits.OnesCount(masks[i]), bits.OnesCount(masks[j])
		if ci != cj {
			return ci < cj
		}
		return bits.Reverse(masks[i]) > bits.Reverse(masks[j])
	})
	mixes := make([][]string, 0, len(masks))
	for _, m := range masks {
		var mix []string
		for i := range n {
			if m&(1<<i) != 0 {
				mix = append(mix, regions[i].Code)
			}
		}
		mixes = append(mixes, mix)
	}
	return mixes
}
