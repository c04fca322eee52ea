package main

import (
	"context"
	"fmt"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/briefs"
	"github.com/newsroom/digest/internal/sqlite"
	"github.com/spf13/cobra"
)

func (a *app) briefsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "briefs",
		Short: "Manage briefs",
	}
	cmd.AddCommand(a.briefsAddCmd(), a.briefsImportCmd(), a.briefsListCmd(), a.briefsShowCmd(), a.briefsRemoveCmd())
	return cmd
}

func (a *app) briefsAddCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "add FILE...",
		Short: "Add or update briefs from Markdown files with YAML front matter",
		Long: `Add briefs from Markdown files with YAML front matter (the format is in the
README). A file whose slug is already stored updates that brief; a brief
that was removed ('briefs remove') comes back.

Every file is checked before anything is written: if any file is invalid,
the errors name each file and field and nothing is added.`,
		Example: `  digest briefs add briefs/2026-11-26/*.md`,
		Args:    minArgs(1),
		RunE: func(cmd *cobra.Command, paths []string) error {
			ctx := cmd.Context()
			o, err := a.open(ctx, need{})
			if err != nil {
				return err
			}
			defer o.Close()
			files, err := briefs.ParseFiles(ctx, paths, o.cfg.Regions)
			if err != nil {
				return fmt.Errorf("no briefs added:\n%w", err)
			}
			_, err = a.saveBriefs(ctx, o, files, sqlite.SaveOptions{Rewrite: true})
			return err
		},
	}
}

func (a *app) briefsImportCmd() *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "import DIR",
		Short: "Add, update or leave alone every brief file under a directory",
		Long: `Import every *.md file under DIR, recursively, in sorted order; files and
directories whose names start with "." are skipped. Briefs are matched by
slug: a new slug is added, a stored brief whose file changed is updated, and
one whose file is unchanged is left alone (its updated_at stays), so running
the same import twice changes nothing. A removed brief whose file is
imported again comes back ("restored").

Every file is parsed and checked first. If any is invalid, or two files
share a slug, every problem is listed as FILE:LINE: FIELD: REASON and
nothing is written (exit 1). Otherwise all briefs are stored in one
transaction. --dry-run says what would be added, updated or left unchanged,
and writes nothing.`,
		Example: `  digest briefs import briefs/
  digest briefs import --dry-run briefs/2026-11/`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			o, err := a.open(ctx, need{})
			if err != nil {
				return err
			}
			defer o.Close()
			files, err := briefs.ParseDir(ctx, args[0], o.cfg.Regions)
			if err != nil {
				return fmt.Errorf("nothing imported:\n%w", err)
			}
			changes, err := a.saveBriefs(ctx, o, files, sqlite.SaveOptions{DryRun: dryRun})
			if err != nil {
				return err
			}
			counts := map[sqlite.BriefChange]int{}
			for _, c := range changes {
				counts[c]++
			}
			if a.quiet && !dryRun {
				return nil
			}
			prefix := ""
			if dryRun {
				prefix = "dry run, nothing written: would have "
			}
			fmt.Fprintf(a.stdout, "%s%d files: %d added, %d updated, %d restored, %d unchanged\n", prefix, len(files),
				counts[sqlite.BriefAdded], counts[sqlite.BriefUpdated], counts[sqlite.BriefRestored], counts[sqlite.BriefUnchanged])
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "report what would change, write nothing")
	return cmd
}

// saveBriefs stores files in one transaction and prints one line per brief.
func (a *app) saveBriefs(ctx context.Context, o *opened, files []briefs.File, opts sqlite.SaveOptions) ([]sqlite.BriefChange, error) {
	if err := o.openDB(ctx); err != nil {
		return nil, err
	}
	bs := make([]digest.Brief, len(files))
	for i, f := range files {
		bs[i] = f.Brief
	}
	changes, err := o.db.SaveBriefs(ctx, bs, opts)
	if err != nil {
		return nil, err
	}
	verbPrefix := ""
	if opts.DryRun {
		verbPrefix = "would be "
	}
	if a.quiet && !opts.DryRun { // a dry run's report is the data asked for
		return changes, nil
	}
	for i, b := range bs {
		fmt.Fprintf(a.stdout, "%s%s %s (%s, %s) %s\n", verbPrefix, changes[i], b.Slug, b.Region,
			b.PublishedAt.UTC().Format("2006-01-02 15:04Z"), files[i].Path)
	}
	return changes, nil
}

func (a *app) briefsRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "remove SLUG",
		Short: "Withdraw a brief so that no future digest carries it",
		Long: `Withdraw a brief. It is first taken out of every digest that is planned but
not yet sent (queued or deferred); a planned digest left with nothing else
is suppressed rather than sent empty. A digest being sent at this very
moment cannot be recalled.

A brief that no delivery record references is then deleted. One that a
digest carried (sent, failed, expired...) stays in the database, marked
removed, because the delivery ledger must keep saying what each reader
received: it is hidden from 'briefs list' (see --include-removed), still
shown by 'briefs show', and never carried again. Adding or importing a file
with the same slug brings it back.`,
		Example: `  digest briefs remove lagos-port-congestion-eases`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			o, err := a.open(ctx, need{db: true})
			if err != nil {
				return err
			}
			defer o.Close()
			db := o.db
			r, err := db.RemoveBrief(ctx, args[0])
			if err != nil {
				return err
			}
			if a.quiet {
				return nil
			}
			w := a.stdout
			switch {
			case r.Deleted:
				fmt.Fprintf(w, "deleted %s: no digest had carried it\n", args[0])
			case r.AlreadyRemoved:
				fmt.Fprintf(w, "%s was already removed at %s\n", args[0], timeOrDash(r.RemovedAt))
			default:
				fmt.Fprintf(w, "marked %s removed: %d delivery records carry it, so it stays in the ledger; no future digest will carry it\n",
					args[0], r.Carried)
			}
			if r.Unplanned > 0 {
				fmt.Fprintf(w, "taken out of %d planned digests not yet sent (%d left empty and suppressed)\n", r.Unplanned, r.Suppressed)
			}
			return nil
		},
	}
}
