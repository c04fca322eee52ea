package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/config"
	"github.com/newsroom/digest/internal/lint"
	"github.com/newsroom/digest/internal/render"
	"github.com/spf13/cobra"
)

func (a *app) templatesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "templates",
		Short: "Work with the email templates",
		Args:  exactArgs(0),
	}
	var dir string
	check := &cobra.Command{
		Use:   "check",
		Short: "Parse the email templates, render a sample digest with them and lint it",
		Long: `Parse the digest and confirmation templates — the embedded ones, those of
templates_dir, or those of --dir — and render them against sample data, as
'digest serve' does at start-up; a template error names the file and line.
Then render a realistic digest of 20 sample briefs over the configured
regions and lint it (see 'digest lint --help' for the rules).

Exit status 1 on a template error or any error finding.`,
		Example: `  digest templates check
  digest templates check --dir ./my-templates`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.templatesCheck(cmd.Context(), dir)
		},
	}
	check.Flags().StringVar(&dir, "dir", "", "templates directory (default: templates_dir, else the embedded templates)")
	cmd.AddCommand(check)
	return cmd
}

// sampleBriefCount is how many briefs the templates check renders: a busy
// morning across every edition.
const sampleBriefCount = 20

func (a *app) templatesCheck(ctx context.Context, dir string) error {
	o, err := a.open(ctx, need{})
	if err != nil {
		return err
	}
	cfg := o.cfg
	fsys, where := templatesFS(cfg), "embedded templates"
	if cfg.TemplatesDir != "" {
		where = cfg.TemplatesDir
	}
	if dir != "" {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return usageError{fmt.Errorf("--dir %s: not a directory", dir)}
		}
		fsys, where = os.DirFS(dir), dir
	}
	out, in, err := renderSample(fsys, cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	findings := lint.Check(in)
	e, w := lint.Count(findings)
	tw := newTable(a.stdout)
	fmt.Fprintf(tw, "%s: parsed; a sample digest of %d briefs renders to %.1f KB of HTML; %s, %s\n",
		where, len(in.Briefs), float64(len(out.HTML))/1024, plural(e, "error"), plural(w, "warning"))
	writeFindings(tw, findings)
	if err := tw.Flush(); err != nil {
		return err
	}
	if e > 0 {
		return errQuietFailure
	}
	return nil
}

// renderSample parses the templates of fsys and renders a sample digest of
// every configured region, returning it as lint input.
func renderSample(fsys fs.FS, cfg *config.Config) (render.Output, lint.Input, error) {
	postal := cfg.PostalAddress
	if strings.TrimSpace(postal) == "" {
		postal = "1 Example Square\nExample City" // config check reports a missing one
	}
	publisher := senderName(cfg.From)
	if publisher == "" {
		publisher = "The Regional Brief"
	}
	r, err := render.New(fsys, render.Options{Regions: cfg.Regions, PublisherName: publisher, PostalAddress: postal})
	if err != nil {
		return render.Output{}, lint.Input{}, err
	}
	if len(cfg.Regions) == 0 {
		return render.Output{}, lint.Input{}, errors.New("no regions configured to render a sample digest with")
	}
	codes := make([]string, len(cfg.Regions))
	for i, rg := range cfg.Regions {
		codes[i] = rg.Code
	}
	now := time.Now()
	const unsub = "https://news.example.com/unsubscribe/sample-token"
	briefs := lint.SampleBriefs(cfg.Regions, now, sampleBriefCount)
	out, err := r.Render(render.Input{
		Subscriber: digest.Subscriber{Email: "reader@example.com", Name: "Sample Reader", Regions: codes,
			TimeZone: cfg.Regions[0].TimeZone, Status: digest.StatusActive},
		Now:            now,
		Briefs:         briefs,
		UnsubscribeURL: unsub,
		PreferencesURL: "https://news.example.com/preferences/sample-token",
	})
	if err != nil {
		return render.Output{}, lint.Input{}, err
	}
	return out, lint.Input{Subject: out.Subject, Preheader: out.Preheader, HTML: out.HTML, Text: out.Text,
		Briefs: briefs, UnsubscribeURL: unsub, PostalAddress: postal}, nil
}
