package lint

import (
	"reflect"
	"testing"

	digest "github.com/newsroom/digest"
)

func TestRegionMixes(t *testing.T) {
	regions := digest.Regions{{Code: "dc"}, {Code: "bxl"}, {Code: "lagos"}}
	want := [][]string{{"dc"}, {"bxl"}, {"lagos"}, {"dc", "bxl"}, {"dc", "lagos"}, {"bxl", "lagos"}, {"dc", "bxl", "lagos"}}
	if got := RegionMixes(regions); !reflect.DeepEqual(got, want) {
		t.Errorf("RegionMixes = %v\nwant %v", got, want)
	}
	if got := RegionMixes(nil); len(got) != 0 {
		t.Errorf("no regions: %v", got)
	}
}
