package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/newsroom/digest/internal/lint"
	"github.com/newsroom/digest/internal/preview"
	"github.com/spf13/cobra"
)

// lintReport is the machine format of `digest lint --format json`; the
// field names are stable.
type lintReport struct {
	Mixes    []lintMix `json:"mixes"`
	Errors   int       `json:"errors"`
	Warnings int       `json:"warnings"`
}

// lintMix is the lint of one reader's (or made-up reader's) digest.
type lintMix struct {
	Regions    []string       `json:"regions"`
	Subscriber string         `json:"subscriber"`
	Briefs     int            `json:"briefs"`
	HTMLBytes  int            `json:"html_bytes"`
	Note       string         `json:"note,omitempty"` // e.g. no digest: nothing new
	Findings   []lint.Finding `json:"findings"`
}

func (a *app) lintCmd() *cobra.Command {
	var (
		t      previewTarget
		all    bool
		format string
	)
	cmd := &cobra.Command{
		Use:   "lint",
		Short: "Check the digests readers would get for problems mail clients and inboxes punish",
		Long: `Render the digest a pass would send — for a stored reader, a region mix, or
every mix of the configured regions — and check it:

  html-size            HTML over 102 KB (Gmail clips it, footer and all): error; over 90 KB: warning
  text-missing         no plain-text part
  text-lost-content    a headline or signal title missing from a part; a text part far shorter than the HTML
  img-alt, img-size    images without alt text, or with neither width nor height
  link-scheme          links that are not absolute http(s) (or mailto)
  link-empty           links with an empty target
  unsubscribe-missing  no unsubscribe link in a part
  postal-missing       the postal address missing from a part
  empty-field          template fields that rendered empty (empty subject, heading or
                       link text, "Sources:" with nothing after it, ...)
  sanitized-markdown   brief or signal Markdown that the sanitizer changed

Nothing is recorded and nothing is sent. A mix with nothing new gets a note,
not an error. Exit status 1 when any finding is an error; warnings alone
exit 0.

--all-region-mixes lints every non-empty subset of the configured regions
(63 for six), each as a made-up reader who has had nothing yet.

--format json prints one object:
  {"mixes": [{"regions": ["lagos","bxl"], "subscriber": "...", "briefs": 12,
              "html_bytes": 48211, "note": "...",
              "findings": [{"severity": "error"|"warning", "rule": "html-size",
                            "message": "...", "brief": "slug"}]}],
   "errors": 0, "warnings": 1}`,
		Example: `  digest lint --subscriber ada@example.com
  digest lint --regions lagos,bxl --at 2026-11-26T06:00:00Z
  digest lint --all-region-mixes --format json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format, "table", "json"); err != nil {
				return err
			}
			if all && (t.email != "" || t.regions != "" || t.zone != "") {
				return usageError{errors.New("--all-region-mixes goes alone: not with --subscriber, --regions or --timezone")}
			}
			return a.lint(cmd.Context(), t, all, format)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&t.email, "subscriber", "", "lint the digest of this stored subscriber (email)")
	fl.StringVar(&t.regions, "regions", "", "lint the digest of a region mix, e.g. lagos,bxl")
	fl.StringVar(&t.zone, "timezone", "", "time zone of the region mix (default: the first region's)")
	fl.BoolVar(&all, "all-region-mixes", false, "lint every non-empty subset of the configured regions")
	fl.StringVar(&t.at, "at", "", "as of this RFC 3339 time (default: now)")
	fl.StringVar(&format, "format", "table", "table or json")
	return cmd
}

func (a *app) lint(ctx context.Context, t previewTarget, all bool, format string) error {
	at, err := parseInstant("at", t.at)
	if err != nil {
		return err
	}
	if !all && t.email == "" && t.regions == "" {
		return usageError{errors.New("say whose digest: --subscriber EMAIL, --regions a,b or --all-region-mixes")}
	}
	cfg, _, pl, err := a.openPipeline(ctx)
	if err != nil {
		return err
	}
	defer pl.Close()

	targets := []previewTarget{t}
	if all {
		targets = targets[:0]
		for _, mix := range lint.RegionMixes(cfg.Regions) {
			targets = append(targets, previewTarget{regions: strings.Join(mix, ",")})
		}
	}
	var report lintReport
	for _, target := range targets {
		if err := ctx.Err(); err != nil {
			return err
		}
		sub, err := previewReader(ctx, cfg, pl.db, target)
		if err != nil {
			return err
		}
		pv, err := pl.outbox.Preview(ctx, sub, at)
		if err != nil {
			return fmt.Errorf("preview %s (%s): %w", sub.Email, strings.Join(sub.Regions, ","), err)
		}
		mix := lintMix{Regions: sub.Regions, Subscriber: sub.Email, Briefs: len(pv.Briefs), Findings: []lint.Finding{}}
		if len(pv.Briefs) == 0 {
			mix.Note = fmt.Sprintf("no digest: nothing new published after %s", pv.After.UTC().Format(time.RFC3339))
		} else {
			mix.HTMLBytes = len(pv.Output.HTML)
			mix.Findings = append(mix.Findings, lint.CheckPreview(pv, cfg.PostalAddress)...)
		}
		e, w := lint.Count(mix.Findings)
		report.Errors += e
		report.Warnings += w
		report.Mixes = append(report.Mixes, mix)
	}
	if err := writeLintReport(a.stdout, report, format); err != nil {
		return err
	}
	if report.Errors > 0 {
		return errQuietFailure
	}
	return nil
}

func writeLintReport(w io.Writer, r lintReport, format string) error {
	if format == "json" {
		return writeJSON(w, r)
	}
	tw := newTable(w)
	for _, m := range r.Mixes {
		who := strings.Join(m.Regions, ",")
		if m.Subscriber != preview.MadeUpEmail {
			who = m.Subscriber + " (" + who + ")"
		}
		if m.Note != "" {
			fmt.Fprintf(tw, "%s: %s\n", who, m.Note)
			continue
		}
		e, wn := lint.Count(m.Findings)
		fmt.Fprintf(tw, "%s: %s, %.1f KB of HTML, %s, %s\n", who, plural(m.Briefs, "brief"), float64(m.HTMLBytes)/1024,
			plural(e, "error"), plural(wn, "warning"))
		writeFindings(tw, m.Findings)
	}
	fmt.Fprintf(tw, "%s, %s in %s\n", plural(r.Errors, "error"), plural(r.Warnings, "warning"), plural(len(r.Mixes), "digest"))
	return tw.Flush()
}

// writeFindings writes one indented row per finding: severity, rule, where,
// message.
func writeFindings(tw io.Writer, fs []lint.Finding) {
	for _, f := range fs {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", f.Severity, f.Rule, f.Where(), f.Message)
	}
}
