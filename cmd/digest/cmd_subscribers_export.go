package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/sqlite"
	"github.com/newsroom/digest/internal/subscribers"
	"github.com/spf13/cobra"
)

func (a *app) subscribersExportCmd() *cobra.Command {
	var format, out, status, region string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write subscribers to a CSV or JSON lines file",
		Long: `Write subscribers, in the order they were added, to standard output or to
--out FILE, streaming: memory stays the same however long the list.

CSV (the default) has a header row and LF line ends:
  email,name,regions,timezone,send_time,status,created_at,consent_source
regions are the codes in the reader's order, comma-separated ("lagos,bxl",
quoted); created_at is RFC 3339 in UTC. A cell that a spreadsheet would run
as a formula (starting with =, +, -, @, a tab or a CR, after any
apostrophes) gets a leading apostrophe, which spreadsheets do not show and
'subscribers import' removes again, so a name like =HYPERLINK(...) is
shown as text and still round-trips exactly.

JSON lines (--format jsonl, or --out ending in .jsonl or .ndjson) has one
object per subscriber with the same keys; regions is an array.

An export imports again as it is ('subscribers import FILE'): the same
addresses, names, regions in order, time zones, send times and statuses.
--out writes a new file readable only by its owner (it holds personal
data) and replaces FILE only when the export is complete.

While 'digest serve' runs, an export reads in short transactions: a reader
who signs up meanwhile may or may not be included.`,
		Example: `  digest subscribers export > readers.csv
  digest subscribers export --out readers.jsonl
  digest subscribers export --status active --region lagos --out lagos.csv`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.exportSubscribers(cmd.Context(), format, out, status, region)
		},
	}
	cmd.Flags().StringVar(&format, "format", "", "csv or jsonl (default: by --out's extension, else csv)")
	cmd.Flags().StringVarP(&out, "out", "o", "", "write to this file instead of standard output")
	cmd.Flags().StringVar(&status, "status", "", "only subscribers with this status")
	cmd.Flags().StringVar(&region, "region", "", "only subscribers of this region")
	return cmd
}

// exportSubscribers runs `subscribers export`.
func (a *app) exportSubscribers(ctx context.Context, format, out, status, region string) error {
	var f subscribers.Format
	switch format {
	case "":
		f = subscribers.CSV
		if out != "" && out != "-" {
			f = subscribers.FormatFor(out)
		}
	case string(subscribers.CSV), string(subscribers.JSONLines):
		f = subscribers.Format(format)
	default:
		return usageError{fmt.Errorf("--format: %q is not one of csv, jsonl", format)}
	}
	st := digest.SubscriberStatus(status)
	if status != "" && !st.Valid() {
		return usageError{fmt.Errorf("--status: %q is not one of %s", status, subscriberStatusList())}
	}
	o, err := a.open(ctx, need{})
	if err != nil {
		return err
	}
	defer o.Close()
	if err := checkRegion(o.cfg.Regions, region); err != nil {
		return err
	}
	if err := o.openDB(ctx); err != nil {
		return err
	}
	db := o.db

	w, commit, err := a.exportTarget(out)
	if err != nil {
		return err
	}
	defer commit(false)
	e, err := subscribers.NewExporter(w, f)
	if err != nil {
		return err
	}
	n := 0
	err = db.StreamSubscribers(ctx, sqlite.SubscriberFilter{Status: st, Region: region}, func(s digest.Subscriber) error {
		n++
		return e.Write(s)
	})
	if err == nil {
		err = e.Flush()
	}
	if err == nil {
		err = commit(true)
	}
	if err != nil {
		return fmt.Errorf("export subscribers: %w", err)
	}
	if out != "" && out != "-" {
		a.say("exported %d subscriber%s to %s\n", n, pluralS(n), out)
	}
	return nil
}

// exportTarget returns where an export writes, and commit, which on true
// puts a file export in place and on false (after a failure) removes it.
// Calling commit again after the first time does nothing.
func (a *app) exportTarget(out string) (io.Writer, func(ok bool) error, error) {
	if out == "" || out == "-" {
		return a.stdout, func(bool) error { return nil }, nil
	}
	// Under a temporary name until complete: a failed or interrupted
	// export never leaves a truncated file under the name. Readable only
	// by its owner: it holds personal data.
	f, err := createAtomic(out, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("export: %w", err)
	}
	return f, func(ok bool) error {
		if !ok {
			f.Abort()
			return nil
		}
		return f.Commit()
	}, nil
}

// statusList names every subscriber status, for messages.
func subscriberStatusList() string {
	names := make([]string, len(digest.SubscriberStatuses))
	for i, s := range digest.SubscriberStatuses {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}
