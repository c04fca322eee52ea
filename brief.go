package digest

import "time"

// Brief is one short news item of one region: what the newsroom publishes and
// digests carry.
type Brief struct {
	ID          int64
	Slug        string // unique, stable key; re-adding a file with the same slug updates the brief
	Region      string // region code
	Headline    string
	Lede        string // optional one-paragraph summary, plain text
	Body        string // "The News", Markdown
	Signals     []Signal
	Author      string
	PublishedAt time.Time // UTC
	Image       *Image    // optional
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Signal is a short analysis item attached to a brief, citing its sources.
type Signal struct {
	Title   string
	Body    string // Markdown
	Sources []Source
}

// Source is a named source of a signal, with an optional link.
type Source struct {
	Name string
	URL  string // optional, http(s)
}

// Image is an optional illustration of a brief.
type Image struct {
	URL     string // https
	Alt     string // alternative text; the caption when empty
	Caption string
	Credit  string
}
