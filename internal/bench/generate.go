// Package bench generates realistic data for whole-run benchmarks — briefs
// across regions, readers with region mixes, zones and non-ASCII names —
// and measures the raw SMTP limit a pass is compared with; benchrun runs
// `digest bench` with them.
package bench

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	digest "github.com/newsroom/digest"
)

// Briefs returns n briefs spread over regions, published over the given
// number of days before at, each with a body of a typical brief's length
// and two signals with sources. A pass at at carries the last 24 hours of
// them, so the defaults give digests of a typical size (BENCHMARKS.md).
func Briefs(n, days int, regions digest.Regions, at time.Time, rng *rand.Rand) []digest.Brief {
	span := max(days, 1)*24*60 - 60
	out := make([]digest.Brief, n)
	for i := range out {
		r := regions[i%len(regions)]
		out[i] = digest.Brief{
			Slug:        fmt.Sprintf("bench-%s-%05d", r.Code, i),
			Region:      r.Code,
			Headline:    fmt.Sprintf("%s: %s %d", r.Name, headlines[rng.IntN(len(headlines))], i),
			Lede:        "A one-paragraph summary of what happened and why it matters for readers of this edition.",
			Body:        body(rng),
			Author:      authors[rng.IntN(len(authors))],
			PublishedAt: at.Add(-time.Duration(rng.IntN(span)+1) * time.Minute).UTC(),
			Signals: []digest.Signal{
				{Title: "What to watch", Body: "Officials meet again *next week*; a decision on the second phase is expected then.",
					Sources: []digest.Source{{Name: "Ministry statement", URL: "https://example.org/statement"}, {Name: "Local business survey"}}},
				{Title: "The numbers", Body: "Volumes rose **8%** on the quarter, the fastest pace since 2023.",
					Sources: []digest.Source{{Name: "Port authority data", URL: "https://example.org/data"}}},
			},
		}
	}
	return out
}

func body(rng *rand.Rand) string {
	var b strings.Builder
	for p := 0; p < 3; p++ {
		if p > 0 {
			b.WriteString("\n\n")
		}
		for w := 0; w < 40; w++ {
			if w > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(words[rng.IntN(len(words))])
		}
		b.WriteString(". See the [full report](https://example.org/report).")
	}
	return b.String()
}

// Readers returns n active readers numbered from first, each with one to
// three regions in a random order, the zone of their first region (a tenth
// in another zone), a name (some non-ASCII) and send time 00:00 so that
// every one is due at any instant of the day. Callers generate a big list
// in chunks, so that the generator does not hold it.
func Readers(first, n int, regions digest.Regions, rng *rand.Rand) []digest.Subscriber {
	out := make([]digest.Subscriber, n)
	for j := range out {
		i := first + j
		k := 1 + rng.IntN(min(3, len(regions)))
		perm := rng.Perm(len(regions))[:k]
		codes := make([]string, k)
		for j, p := range perm {
			codes[j] = regions[p].Code
		}
		zone := regions[perm[0]].TimeZone
		if i%10 == 0 {
			zone = "Europe/Berlin"
		}
		out[j] = digest.Subscriber{
			Email:    fmt.Sprintf("reader%07d@bench.example.org", i),
			Name:     names[i%len(names)] + fmt.Sprintf(" %d", i),
			Regions:  codes,
			TimeZone: zone,
			Status:   digest.StatusActive,
			Consent:  digest.Consent{Source: "bench"},
		}
	}
	return out
}

var (
	headlines = []string{"port congestion eases after new truck-call system", "central bank holds rates steady",
		"council approves budget after overnight talks", "rail extension opens to commuters", "court rules on tenant notices",
		"heat-pump rebates open for older homes", "exporters report record quarter", "new flood barriers near completion"}
	authors = []string{"Adaeze Okonkwo-Brandt", "Zoë Lambert", "Chén Lì", "Élodie Janssens", "Tunde Ìṣọ̀lá", "Priya Raman"}
	names   = []string{"Ada Okafor", "Zoë Dubois", "Chén Lì", "Nnamdi Ọkọ̀", "Inês Ferreira", "Marcus Hale", "Zeynep Yılmaz", "Layla Al-Harbi"}
	words   = strings.Fields(`the ministry said on tuesday that the new rules would take effect in january after a consultation
		with traders and hauliers who had warned of delays at the main gates where queues have stretched for kilometres
		during the busiest weeks of the year while officials insist the changes will cut waiting times by half`)
)
