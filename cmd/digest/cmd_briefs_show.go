package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/sqlite"
	"github.com/spf13/cobra"
)

func (a *app) briefsListCmd() *cobra.Command {
	var (
		region, since, format string
		limit                 int
		includeRemoved        bool
		nowFlag               string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List briefs, newest first",
		Long: `List briefs, newest first (by published time). The table shows the
published time in UTC and in the region's own zone, the number of signals,
and SENT TO: how many sent digests carried the brief. Removed briefs are
hidden unless --include-removed.

--since takes a duration back from now (24h, 90m, 7d) or a date or instant
(2026-11-25 is its midnight UTC; 2026-11-25T06:00:00+01:00).

--format json writes an array; each element has: id, slug, region,
headline, published_at (RFC 3339, UTC), published_local (RFC 3339 in the
region's zone; absent for a region no longer configured), signals (count),
sent_to (count), removed_at (RFC 3339, UTC; only for removed briefs).`,
		Example: `  digest briefs list --region lagos --since 24h
  digest briefs list --since 2026-11-25 --format json
  digest briefs list --limit 0        # all of them`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format, "table", "json"); err != nil {
				return err
			}
			if limit < 0 {
				return usageError{fmt.Errorf("--limit: %d is negative", limit)}
			}
			ctx := cmd.Context()
			o, err := a.open(ctx, need{})
			if err != nil {
				return err
			}
			defer o.Close()
			cfg := o.cfg
			if _, ok := cfg.Regions.Lookup(region); region != "" && !ok {
				return usageError{fmt.Errorf("--region: %q is not a configured region (%s)", region, strings.Join(cfg.Regions.Codes(), ", "))}
			}
			now, err := parseNow(nowFlag)
			if err != nil {
				return err
			}
			from, err := parseSince(since, now)
			if err != nil {
				return err
			}
			if err := o.openDB(ctx); err != nil {
				return err
			}
			ls, err := o.db.ListBriefSummaries(ctx, sqlite.BriefListFilter{Region: region, Since: from, Limit: limit, IncludeRemoved: includeRemoved})
			if err != nil {
				return err
			}
			if format == "json" {
				out := make([]briefSummaryJSON, len(ls))
				for i, l := range ls {
					out[i] = briefSummaryJSON{ID: l.ID, Slug: l.Slug, Region: l.Region, Headline: l.Headline,
						PublishedAt: l.PublishedAt.UTC(), PublishedLocal: localTime(cfg.Regions, l.Region, l.PublishedAt),
						Signals: l.Signals, SentTo: l.SentTo, RemovedAt: optTime(l.RemovedAt)}
				}
				return writeJSON(a.stdout, out)
			}
			tw := newTable(a.stdout)
			fmt.Fprintln(tw, "SLUG\tREGION\tPUBLISHED (UTC)\tLOCAL\tSIGNALS\tSENT TO\tHEADLINE")
			for _, l := range ls {
				local := "-"
				if t := localTime(cfg.Regions, l.Region, l.PublishedAt); t != nil {
					local = t.Format("2006-01-02 15:04 MST")
				}
				slug := l.Slug
				if !l.RemovedAt.IsZero() {
					slug += " (removed)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", slug, l.Region, l.PublishedAt.UTC().Format("2006-01-02 15:04Z"),
					local, l.Signals, l.SentTo, truncate(l.Headline, 60))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&region, "region", "", "only briefs of this region")
	cmd.Flags().StringVar(&since, "since", "", "only briefs published since: a duration back from now (24h, 7d) or a date/instant (2026-11-25)")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many briefs (0: all)")
	cmd.Flags().BoolVar(&includeRemoved, "include-removed", false, "list removed briefs too")
	cmd.Flags().StringVar(&nowFlag, "now", "", "take --since durations back from this RFC 3339 instant (for tests and re-runs)")
	_ = cmd.Flags().MarkHidden("now")
	return cmd
}

// briefSummaryJSON is the stable machine form of a listed brief.
type briefSummaryJSON struct {
	ID             int64      `json:"id"`
	Slug           string     `json:"slug"`
	Region         string     `json:"region"`
	Headline       string     `json:"headline"`
	PublishedAt    time.Time  `json:"published_at"`
	PublishedLocal *time.Time `json:"published_local,omitempty"`
	Signals        int        `json:"signals"`
	SentTo         int        `json:"sent_to"`
	RemovedAt      *time.Time `json:"removed_at,omitempty"`
}

func (a *app) briefsShowCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "show SLUG",
		Short: "Show one brief: every field, its signals and sources, and its deliveries",
		Long: `Show one brief, removed or not: every field, its signals with their
sources, and how many deliveries carry it, by status.

--format json writes one object: id, slug, region, headline, lede, body,
author, published_at, published_local, image {url, alt, caption, credit}
(absent without one), signals [{title, body, sources [{name, url}]}],
created_at, updated_at, removed_at (only when removed), deliveries
{status: count}, first_sent_at and last_sent_at (absent when never sent).`,
		Example: `  digest briefs show lagos-port-congestion-eases
  digest briefs show lagos-port-congestion-eases --format json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format, "text", "json"); err != nil {
				return err
			}
			ctx := cmd.Context()
			o, err := a.open(ctx, need{db: true})
			if err != nil {
				return err
			}
			defer o.Close()
			rec, err := o.db.BriefRecordBySlug(ctx, args[0])
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(a.stdout, toBriefJSON(o.cfg.Regions, rec))
			}
			return writeBriefText(a.stdout, o.cfg.Regions, rec)
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}

// briefJSON is the stable machine form of one brief with its delivery
// statistics.
type briefJSON struct {
	ID             int64          `json:"id"`
	Slug           string         `json:"slug"`
	Region         string         `json:"region"`
	Headline       string         `json:"headline"`
	Lede           string         `json:"lede"`
	Body           string         `json:"body"`
	Author         string         `json:"author"`
	PublishedAt    time.Time      `json:"published_at"`
	PublishedLocal *time.Time     `json:"published_local,omitempty"`
	Image          *imageJSON     `json:"image,omitempty"`
	Signals        []signalJSON   `json:"signals"`
	CreatedAt      time.Time      `json:"created_at"`
	UpdatedAt      time.Time      `json:"updated_at"`
	RemovedAt      *time.Time     `json:"removed_at,omitempty"`
	Deliveries     map[string]int `json:"deliveries"`
	FirstSentAt    *time.Time     `json:"first_sent_at,omitempty"`
	LastSentAt     *time.Time     `json:"last_sent_at,omitempty"`
}

type imageJSON struct {
	URL     string `json:"url"`
	Alt     string `json:"alt"`
	Caption string `json:"caption"`
	Credit  string `json:"credit"`
}

type signalJSON struct {
	Title   string       `json:"title"`
	Body    string       `json:"body"`
	Sources []sourceJSON `json:"sources"`
}

type sourceJSON struct {
	Name string `json:"name"`
	URL  string `json:"url,omitempty"`
}

func toBriefJSON(regions digest.Regions, rec sqlite.BriefRecord) briefJSON {
	out := briefJSON{ID: rec.ID, Slug: rec.Slug, Region: rec.Region, Headline: rec.Headline, Lede: rec.Lede, Body: rec.Body,
		Author: rec.Author, PublishedAt: rec.PublishedAt.UTC(), PublishedLocal: localTime(regions, rec.Region, rec.PublishedAt),
		Signals: []signalJSON{}, CreatedAt: rec.CreatedAt.UTC(), UpdatedAt: rec.UpdatedAt.UTC(), RemovedAt: optTime(rec.RemovedAt),
		Deliveries: map[string]int{}, FirstSentAt: optTime(rec.FirstSentAt), LastSentAt: optTime(rec.LastSentAt)}
	if img := rec.Image; img != nil {
		out.Image = &imageJSON{URL: img.URL, Alt: img.Alt, Caption: img.Caption, Credit: img.Credit}
	}
	for _, s := range rec.Signals {
		sj := signalJSON{Title: s.Title, Body: s.Body, Sources: []sourceJSON{}}
		for _, src := range s.Sources {
			sj.Sources = append(sj.Sources, sourceJSON{Name: src.Name, URL: src.URL})
		}
		out.Signals = append(out.Signals, sj)
	}
	for st, n := range rec.Deliveries {
		out.Deliveries[string(st)] = n
	}
	return out
}

func writeBriefText(w io.Writer, regions digest.Regions, rec sqlite.BriefRecord) error {
	local := "-"
	if t := localTime(regions, rec.Region, rec.PublishedAt); t != nil {
		local = t.Format("2006-01-02 15:04 MST")
	}
	fmt.Fprintf(w, "brief %s (id %d)\n", rec.Slug, rec.ID)
	if !rec.RemovedAt.IsZero() {
		fmt.Fprintf(w, "  REMOVED     %s: no digest carries it any more\n", timeOrDash(rec.RemovedAt))
	}
	fmt.Fprintf(w, "  region      %s\n  headline    %s\n  author      %s\n  published   %s (%s)\n  created     %s\n  updated     %s\n",
		rec.Region, rec.Headline, rec.Author, timeOrDash(rec.PublishedAt), local, timeOrDash(rec.CreatedAt), timeOrDash(rec.UpdatedAt))
	if rec.Lede != "" {
		fmt.Fprintf(w, "  lede        %s\n", rec.Lede)
	}
	if img := rec.Image; img != nil {
		fmt.Fprintf(w, "  image       %s\n    alt       %s\n    caption   %s\n    credit    %s\n", img.URL, img.Alt, img.Caption, img.Credit)
	}
	fmt.Fprintf(w, "\nsignals (%d):\n", len(rec.Signals))
	for i, s := range rec.Signals {
		fmt.Fprintf(w, "  %d. %s\n", i+1, s.Title)
		if s.Body != "" {
			fmt.Fprintf(w, "     %s\n", strings.ReplaceAll(s.Body, "\n", "\n     "))
		}
		for _, src := range s.Sources {
			if src.URL != "" {
				fmt.Fprintf(w, "     - %s <%s>\n", src.Name, src.URL)
			} else {
				fmt.Fprintf(w, "     - %s\n", src.Name)
			}
		}
	}
	fmt.Fprintln(w, "\ndeliveries:")
	some := false
	for _, st := range digest.DeliveryStatuses {
		if n := rec.Deliveries[st]; n > 0 {
			fmt.Fprintf(w, "  %-10s  %d\n", st, n)
			some = true
		}
	}
	if !some {
		fmt.Fprintln(w, "  none yet")
	}
	if !rec.FirstSentAt.IsZero() {
		fmt.Fprintf(w, "  first sent  %s\n  last sent   %s\n", timeOrDash(rec.FirstSentAt), timeOrDash(rec.LastSentAt))
	}
	fmt.Fprintf(w, "\nbody:\n%s\n", rec.Body)
	return nil
}

// localTime is t in the zone of the region with the given code, or nil
// when the region is no longer configured.
func localTime(regions digest.Regions, code string, t time.Time) *time.Time {
	r, ok := regions.Lookup(code)
	if !ok || r.Location == nil {
		return nil
	}
	l := t.In(r.Location)
	return &l
}
