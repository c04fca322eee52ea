package delivery

import (
	"regexp"
	"slices"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
)

// Message-IDs name the digest date and nothing about the reader, never
// repeat, and sort in the order they were made, across the batches of
// random bytes they are cut from.
func TestMessageIDs(t *testing.T) {
	tests := []struct {
		name   string
		date   digest.Date
		domain string
		want   string
	}{
		{"a digest date", "2026-11-26", "news.example.org", `^<digest\.20261126\.[0-9a-f]{28}@news\.example\.org>$`},
		{"another domain", "2027-01-02", "mail.example", `^<digest\.20270102\.[0-9a-f]{28}@mail\.example>$`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newMessageIDs(tt.domain)
			form := regexp.MustCompile(tt.want)
			at := time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC)
			n := 3*randomBatch + 7 // more than one read of random bytes
			ids := make([]string, 0, n)
			for i := range n {
				id := g.next(tt.date, at.Add(time.Duration(i)))
				if !form.MatchString(id) {
					t.Fatalf("Message-ID %q does not match %s", id, tt.want)
				}
				ids = append(ids, id)
			}
			if !slices.IsSorted(ids) {
				t.Errorf("Message-IDs made in order do not sort in order")
			}
			if len(slices.Compact(slices.Clone(ids))) != n {
				t.Errorf("%d Message-IDs have repeats", n)
			}
			// Made at one instant, across several reads of random bytes,
			// IDs still differ by their random part.
			same := make([]string, 2*randomBatch+2)
			for i := range same {
				same[i] = g.next(tt.date, at)
			}
			slices.Sort(same)
			if len(slices.Compact(same)) != len(same) {
				t.Errorf("%d Message-IDs made at one instant have repeats", len(same))
			}
		})
	}
}
