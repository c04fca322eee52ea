package digest

import (
	"cmp"
	"slices"
	"time"
)

// BriefHead is what choosing and ordering a digest's briefs needs of a
// brief. A pass holds the heads of every brief in its window, not their
// text.
type BriefHead struct {
	ID          int64
	Region      string
	PublishedAt time.Time
	// Removed says an editor withdrew the brief: no digest carries it
	// again.
	Removed bool
}

// NewestFirst is the order of briefs within a region of a digest: later
// PublishedAt first; briefs published at the same instant show the higher
// ID first, so the order is total and repeatable.
func NewestFirst(a, b BriefHead) int {
	if c := b.PublishedAt.Compare(a.PublishedAt); c != 0 {
		return c
	}
	return cmp.Compare(b.ID, a.ID)
}

// Candidates are the briefs digests are chosen from, by region, newest
// first. A pass builds them once, from the briefs published up to its
// instant, and extends them back when a reader's window starts earlier
// than any before (Cover), so that choosing for a million readers reads
// and sorts each brief once. Briefs of regions the newsroom does not
// publish and removed briefs are dropped as they come in: no digest
// carries them. Candidates hold briefs, never readers. A brief stored or
// removed while a pass runs may be missed or kept by that pass, as by any
// pass that started a moment earlier or later.
type Candidates struct {
	known    Regions
	upTo     time.Time
	from     time.Time // with loaded: the briefs published in (from, upTo] are in
	loaded   bool
	byRegion map[string][]BriefHead
}

// NewCandidates returns candidates, empty until covered, for digests cut
// off at upTo in the known regions.
func NewCandidates(known Regions, upTo time.Time) *Candidates {
	return &Candidates{known: known, upTo: upTo, byRegion: map[string][]BriefHead{}}
}

// Cover makes sure the briefs published in (after, upTo] are in c. It
// calls load, at most once, for the span c lacks, (from, to], which must
// return every brief published in it (removed ones may be among them);
// load's error is returned as it is.
func (c *Candidates) Cover(after time.Time, load func(from, to time.Time) ([]BriefHead, error)) error {
	if c.loaded && !after.Before(c.from) {
		return nil
	}
	to := c.upTo
	if c.loaded {
		to = c.from
	}
	heads, err := load(after, to)
	if err != nil {
		return err
	}
	touched := map[string]bool{}
	for _, h := range heads {
		if h.Removed {
			continue
		}
		if _, ok := c.known.Lookup(h.Region); !ok {
			continue
		}
		c.byRegion[h.Region] = append(c.byRegion[h.Region], h)
		touched[h.Region] = true
	}
	for code := range touched {
		slices.SortFunc(c.byRegion[code], NewestFirst)
	}
	c.from, c.loaded = after, true
	return nil
}

// Selection is the rule for which briefs a reader's digest carries and in
// which order, with the newsroom's settings. The planner, previews, lint
// and dry runs all choose through Select; storage only fetches candidates
// and history.
type Selection struct {
	// FirstDigestLookback is how far back a reader's first digest reaches.
	FirstDigestLookback time.Duration
	// LateBriefGrace is how long before a reader's last cut-off a brief
	// may have been published and still reach them, when it was stored
	// only after that digest went out (an import that ran late).
	LateBriefGrace time.Duration
}

// WindowStart returns the start of the window of briefs a digest cut off
// at now carries for a reader with the given watermark: briefs published
// in (start, now]. It is the last digest's cut-off less the late-brief
// grace, or, before a first digest (zero watermark), now less the
// first-digest look-back. It is in now's location for a first digest,
// the watermark's otherwise.
func (s Selection) WindowStart(watermark, now time.Time) time.Time {
	if watermark.IsZero() {
		return now.Add(-s.FirstDigestLookback)
	}
	return watermark.Add(-s.LateBriefGrace)
}

// Select appends to ids the briefs a digest cut off at now carries for sub
// and returns the extended slice. They are the candidates of sub's
// regions published in the window (WindowStart), less any that a sent
// digest of the reader's history cut off after the window's start carried
// already; in the order the digest shows them: by sub's regions (each
// once; codes the newsroom does not publish have no briefs), newest first
// within a region (NewestFirst). history is the reader's deliveries; only
// the sent ones count. c must cover the window (Cover) and end at or after
// now.
func (s Selection) Select(ids []int64, c *Candidates, sub *Subscriber, history []Delivery, now time.Time) []int64 {
	after := s.WindowStart(sub.Watermark, now)
	if !c.loaded || after.Before(c.from) {
		panic("digest: Select with candidates that do not cover the window")
	}
	for i, code := range sub.Regions {
		if slices.Contains(sub.Regions[:i], code) {
			continue
		}
		for _, h := range c.byRegion[code] {
			if h.PublishedAt.After(now) {
				continue
			}
			if !h.PublishedAt.After(after) {
				break // newest first: the rest are older still
			}
			if !carried(history, h.ID, after) {
				ids = append(ids, h.ID)
			}
		}
	}
	return ids
}

// carried reports whether a sent digest of history cut off after after
// carried the brief id.
func carried(history []Delivery, id int64, after time.Time) bool {
	for i := range history {
		d := &history[i]
		if d.Status == DeliverySent && d.Cutoff.After(after) && slices.Contains(d.BriefIDs, id) {
			return true
		}
	}
	return false
}
