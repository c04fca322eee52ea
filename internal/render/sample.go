package render

import (
	"time"

	digest "github.com/newsroom/digest"
)

// sampleInputs returns built-in digests that New renders to check the
// templates: one with every optional field set, so each {{with}} and
// {{range}} body runs, and one with none of them and no briefs.
func sampleInputs() (digest.Regions, []Input) {
	regions := digest.Regions{
		{Code: "north", Name: "North", TimeZone: "UTC", Location: time.UTC},
		{Code: "south", Name: "South", TimeZone: "UTC", Location: time.UTC},
	}
	now := time.Date(2026, time.November, 26, 7, 0, 0, 0, time.UTC)
	full := Input{
		Subscriber: digest.Subscriber{
			ID: 1, Email: "reader@example.com", Name: "Sample Reader",
			Regions: []string{"north", "south"}, Status: digest.StatusActive,
		},
		Now: now,
		Briefs: []digest.Brief{{
			ID: 1, Slug: "sample-brief", Region: "north",
			Headline:    "Sample headline",
			Lede:        "A one-paragraph summary.",
			Body:        "Some *news* with a [link](https://example.com/).\n\n- one\n- two\n",
			Author:      "Sample Author",
			PublishedAt: now.Add(-time.Hour),
			Image:       &digest.Image{URL: "https://example.com/a.jpg", Alt: "A picture", Caption: "A caption", Credit: "A photographer"},
			Signals: []digest.Signal{{
				Title: "A signal",
				Body:  "Why it **matters**.",
				Sources: []digest.Source{
					{Name: "Linked source", URL: "https://example.com/source"},
					{Name: "Unlinked source"},
				},
			}},
		}, {
			ID: 2, Slug: "sample-bare", Region: "south",
			Headline: "Bare headline", PublishedAt: now.Add(-2 * time.Hour),
			Signals: []digest.Signal{{Title: "Bare signal"}},
		}},
		UnsubscribeURL: "https://example.com/unsubscribe?t=x",
		PreferencesURL: "https://example.com/preferences?t=x",
	}
	empty := Input{
		Subscriber:     digest.Subscriber{ID: 2, Email: "bare@example.com"},
		Now:            now,
		UnsubscribeURL: "https://example.com/unsubscribe?t=y",
	}
	return regions, []Input{full, empty}
}
