package digest

import "time"

// Region is an edition of the newsroom: briefs belong to one, readers choose
// several. Regions come from configuration, never from code.
type Region struct {
	Code     string         // short, stable key used in brief files and subscriber lists: "lagos"
	Name     string         // display name: "Lagos"
	TimeZone string         // IANA zone name, "Africa/Lagos"
	Location *time.Location // TimeZone, loaded
}

// Regions is the configured list of regions, in configuration order.
type Regions []Region

// Lookup returns the region with the given code.
func (rs Regions) Lookup(code string) (Region, bool) {
	for _, r := range rs {
		if r.Code == code {
			return r, true
		}
	}
	return Region{}, false
}

// Codes returns the region codes in configuration order.
func (rs Regions) Codes() []string {
	codes := make([]string, len(rs))
	for i, r := range rs {
		codes[i] = r.Code
	}
	return codes
}
