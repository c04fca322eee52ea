package lint

import (
	"fmt"
	"time"

	digest "github.com/newsroom/digest"
)

// SampleBriefs returns n realistic briefs spread over regions (round robin,
// newest first), published in the day before now, for checking templates
// without a database: every optional field is set on some of them (image,
// lede, signals with linked and unlinked sources, Markdown lists, quotes
// and links), and none of their Markdown is touched by the sanitizer.
func SampleBriefs(regions digest.Regions, now time.Time, n int) []digest.Brief {
	if len(regions) == 0 {
		return nil
	}
	briefs := make([]digest.Brief, 0, n)
	for i := range n {
		region := regions[i%len(regions)]
		b := digest.Brief{
			ID:          int64(i + 1),
			Slug:        fmt.Sprintf("sample-%s-%02d", region.Code, i+1),
			Region:      region.Code,
			Headline:    fmt.Sprintf("%s council approves plan number %d for the harbour district", region.Name, i+1),
			Lede:        "After three hours of debate, councillors voted 31 to 9 for a plan that moves the bus depot and opens the quay to pedestrians.",
			Body:        "The vote ends a **two-year** dispute over the quay. Opponents said the depot move would cost more than the *estimate*, and asked for an audit.\n\nWhat the plan does:\n\n- moves the depot inland by 2028\n- opens 1.2 km of quay to walkers\n- keeps the ferry terminal where it is\n\n> \"We listened to the residents,\" the mayor said.\n\nThe full text is on the [council's site](https://example.org/council/plan).",
			Author:      "Sample Desk",
			PublishedAt: now.Add(-time.Duration(i+1) * 40 * time.Minute),
		}
		if i%3 == 0 {
			b.Image = &digest.Image{URL: fmt.Sprintf("https://example.org/img/%d.jpg", i+1), Alt: "The harbour quay at dusk", Caption: "The quay the plan opens to walkers", Credit: "Newsroom photo"}
		}
		if i%2 == 0 {
			b.Signals = []digest.Signal{{
				Title: fmt.Sprintf("What it means for commuters (%d)", i+1),
				Body:  "Buses will run *longer routes* for a year while the new depot is built.",
				Sources: []digest.Source{
					{Name: "Council transport report", URL: "https://example.org/council/transport"},
					{Name: "Bus operators' association"},
				},
			}}
		}
		briefs = append(briefs, b)
	}
	return briefs
}
