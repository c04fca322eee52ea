package main

import (
	"errors"
	"fmt"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/briefs"
	"github.com/spf13/cobra"
)

func (a *app) briefsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "briefs",
		Short: "Manage briefs",
	}
	cmd.AddCommand(a.briefsAddCmd())
	return cmd
}

func (a *app) briefsAddCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "add FILE...",
		Short: "Add or update briefs from Markdown files with YAML front matter",
		Long: `Add briefs from Markdown files with YAML front matter (the format is in the
README). A file whose slug is already stored updates that brief.

Every file is checked before anything is written: if any file is invalid,
the errors name each file and field and nothing is added.`,
		Example: `  digest briefs add briefs/2026-11-26/*.md`,
		Args:    minArgs(1),
		RunE: func(cmd *cobra.Command, paths []string) error {
			cfg, err := a.loadConfig(false)
			if err != nil {
				return err
			}
			var (
				parsed []digest.Brief
				errs   []error
				seen   = map[string]string{}
			)
			for _, p := range paths {
				b, err := briefs.ParseFile(p, cfg.Regions)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				if first, dup := seen[b.Slug]; dup {
					errs = append(errs, digest.Invalid(p, "slug", "%q is also the slug of %s", b.Slug, first))
					continue
				}
				seen[b.Slug] = p
				parsed = append(parsed, b)
			}
			if len(errs) > 0 {
				return fmt.Errorf("no briefs added:\n%w", errors.Join(errs...))
			}
			ctx := cmd.Context()
			db, err := openDB(ctx, cfg)
			if err != nil {
				return err
			}
			defer db.Close()
			for i := range parsed {
				b := &parsed[i]
				created, err := db.UpsertBrief(ctx, b)
				if err != nil {
					return fmt.Errorf("store brief %s from %s: %w", b.Slug, paths[i], err)
				}
				verb := "updated"
				if created {
					verb = "added"
				}
				fmt.Fprintf(a.stdout, "%s %s (%s, %s)\n", verb, b.Slug, b.Region, b.PublishedAt.Format("2006-01-02 15:04Z"))
			}
			return nil
		},
	}
}
