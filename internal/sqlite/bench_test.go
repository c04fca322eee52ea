package sqlite

import (
	"fmt"
	"testing"
	"time"
)

// seedBriefs stores perDay briefs a day in each region over days days, each
// with three signals, and returns their ids.
func seedBriefs(b *testing.B, db *DB, regions []string, days, perDay int) []int64 {
	b.Helper()
	var ids []int64
	for d := range days {
		for _, r := range regions {
			for i := range perDay {
				published := at(0, 0).AddDate(0, 0, d).Add(time.Duration(i) * 24 * time.Hour / time.Duration(perDay))
				br := sampleBrief(fmt.Sprintf("%s-%d-%d", r, d, i), r, published)
				ids = append(ids, mustUpsertBrief(b, db, br).ID)
			}
		}
	}
	return ids
}
