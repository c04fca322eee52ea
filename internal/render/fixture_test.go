package render

import (
	"fmt"
	"strings"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/templates"
)

// zone loads an IANA zone or fails the test.
func zone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load zone %s: %v", name, err)
	}
	return loc
}

func testRegions(t testing.TB) digest.Regions {
	t.Helper()
	var rs digest.Regions
	for _, r := range []struct{ code, name, tz string }{
		{"lagos", "Lagos", "Africa/Lagos"},
		{"brussels", "Brussels", "Europe/Brussels"},
		{"singapore", "Singapore", "Asia/Singapore"},
		{"new-york", "New York", "America/New_York"},
		{"sao-paulo", "São Paulo", "America/Sao_Paulo"},
	} {
		rs = append(rs, digest.Region{Code: r.code, Name: r.name, TimeZone: r.tz, Location: zone(t, r.tz)})
	}
	return rs
}

func newRenderer(t testing.TB) *Renderer {
	t.Helper()
	r, err := New(templates.FS, Options{
		Regions:       testRegions(t),
		PublisherName: "The Regional Brief",
		PostalAddress: "The Regional Brief Ltd\n12 Marina Road\nLagos Island, Lagos, Nigeria",
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// fixedNow is the pass time of the fixture: 07:00 in Lagos.
var fixedNow = time.Date(2026, time.November, 26, 6, 0, 0, 0, time.UTC)

// fixtureInput is the digest of the golden files: three regions, briefs
// with signals, sources and an image, non-ASCII names.
func fixtureInput() Input {
	return Input{
		Subscriber: digest.Subscriber{
			ID:       42,
			Email:    "adaeze@example.com",
			Name:     "Adaeze Okonkwo-Brandt",
			Regions:  []string{"lagos", "brussels", "singapore"},
			TimeZone: "Africa/Lagos",
			Status:   digest.StatusActive,
		},
		Now: fixedNow,
		Briefs: []digest.Brief{
			{
				ID: 7, Slug: "brussels-budget-deal", Region: "brussels",
				Headline:    "EU finance ministers agree on a 2027 budget framework",
				Lede:        "After a night of talks, ministers settled the last open line: how much goes to cohesion funds.",
				Body:        "Ministers met until 4 a.m. The deal keeps **cohesion funds** flat and moves €2.1bn to defence research.\n\nWhat changed overnight:\n\n- Hungary dropped its veto threat\n- The Netherlands accepted a smaller rebate\n\nThe Commission called it \"a budget for *hard times*\". Read the [statement](https://ec.europa.eu/commission/presscorner) for details.",
				Author:      "Zoë Lambert",
				PublishedAt: time.Date(2026, time.November, 25, 21, 10, 0, 0, time.UTC),
				Signals: []digest.Signal{{
					Title: "Watch the Parliament vote",
					Body:  "MEPs must approve the framework; the budget committee votes on 3 December.",
					Sources: []digest.Source{
						{Name: "European Parliament", URL: "https://www.europarl.europa.eu/news"},
						{Name: "Politico Europe"},
					},
				}},
			},
			{
				ID: 3, Slug: "lagos-rail-line", Region: "lagos",
				Headline:    "Blue Line rail extension opens to Mile 2",
				Lede:        "The second phase adds four stations and cuts the Mile 2 commute to 25 minutes.",
				Body:        "The Lagos Metropolitan Area Transport Authority opened the extension on Wednesday. Trains run every *12 minutes* at peak.\n\n> It is the first time the line reaches the mainland's western corridor.\n\nFares stay at ₦750 per trip; AT&amp;T-style contactless cards work at every gate.",
				Author:      "Adaeze Okonkwo-Brandt",
				PublishedAt: time.Date(2026, time.November, 25, 13, 34, 0, 0, time.UTC),
				Image: &digest.Image{
					URL:     "https://cdn.example.com/briefs/lagos-rail.jpg",
					Alt:     "A blue train at Mile 2 station",
					Caption: "The first train at Mile 2.",
					Credit:  "Tunde Bakare",
				},
				Signals: []digest.Signal{
					{
						Title: "Ridership is the test",
						Body:  "Phase one carried 40,000 riders a day against a target of 150,000. Feeder buses will decide whether phase two does better.",
						Sources: []digest.Source{
							{Name: "LAMATA", URL: "https://lamata-ng.com/"},
							{Name: "BusinessDay", URL: "https://businessday.ng/"},
						},
					},
					{
						Title: "Power supply",
						Body:  "The line draws from a dedicated substation; outages in 2025 stopped trains on 11 days.",
						Sources: []digest.Source{
							{Name: "Punch", URL: "https://punchng.com/"},
							{Name: "Ministry of Transport"},
						},
					},
				},
			},
			{
				ID: 5, Slug: "lagos-port-fees", Region: "lagos",
				Headline:    "Apapa port fees rise 8% from January",
				Body:        "The Nigerian Ports Authority published the new tariff on its website.",
				PublishedAt: time.Date(2026, time.November, 25, 9, 0, 0, 0, time.UTC),
			},
			{
				ID: 9, Slug: "singapore-housing", Region: "singapore",
				Headline:    "HDB launches 7,000 new flats in Tengah and Bayshore",
				Lede:        "Prices start at S$350,000 for a four-room flat in Tengah.",
				Body:        "Applications open on **1 December** and close a week later. Buyers can compare estates with the `HDB Flat Portal` tool.\n\n1. Check eligibility\n2. Apply online",
				PublishedAt: time.Date(2026, time.November, 25, 23, 30, 0, 0, time.UTC),
				Signals: []digest.Signal{{
					Title: "Demand is cooling",
					Body:  "Subscription rates fell for the third launch in a row.",
					Sources: []digest.Source{
						{Name: "The Straits Times", URL: "https://www.straitstimes.com/"},
						{Name: "HDB", URL: "https://www.hdb.gov.sg/"},
					},
				}},
			},
			{
				// Not subscribed to: must not appear.
				ID: 11, Slug: "ny-subway", Region: "new-york",
				Headline:    "Subway fares frozen",
				PublishedAt: time.Date(2026, time.November, 25, 12, 0, 0, 0, time.UTC),
			},
		},
		UnsubscribeURL: "https://brief.example.com/u/1?t=abc",
		PreferencesURL: "https://brief.example.com/p/1?t=abc",
	}
}

// realisticBriefs returns n briefs of typical length (about 120 words of
// body, two signals with two sources each) spread over the regions.
func realisticBriefs(regions digest.Regions, n int) []digest.Brief {
	body := strings.TrimSpace(strings.Repeat("The council approved the plan on Tuesday after a long debate about costs and timing. ", 5)) +
		"\n\n" + strings.TrimSpace(strings.Repeat("Officials said *work starts in March* and will take two years, according to [the minutes](https://example.com/minutes). ", 3))
	briefs := make([]digest.Brief, n)
	for i := range briefs {
		briefs[i] = digest.Brief{
			ID:          int64(i + 1),
			Slug:        fmt.Sprintf("brief-%d", i+1),
			Region:      regions[i%len(regions)].Code,
			Headline:    fmt.Sprintf("Council approves the riverside plan, phase %d of the programme", i+1),
			Lede:        "The vote ends a year of delay and releases the first tranche of money.",
			Body:        body,
			Author:      "Zoë Lambert",
			PublishedAt: fixedNow.Add(-time.Duration(i) * time.Hour),
			Signals: []digest.Signal{{
				Title: "What to watch",
				Body:  "Contractors must bid by the end of January; the opposition wants an audit first.",
				Sources: []digest.Source{
					{Name: "City Council", URL: "https://example.com/council"},
					{Name: "Daily Record", URL: "https://example.com/record"},
				},
			}, {
				Title: "Money",
				Body:  "The first tranche is 40% of the total; the rest depends on federal grants.",
				Sources: []digest.Source{
					{Name: "Finance Ministry", URL: "https://example.com/finance"},
					{Name: "Budget Office"},
				},
			}},
		}
	}
	return briefs
}
