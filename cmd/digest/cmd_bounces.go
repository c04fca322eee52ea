package main

import (
	"errors"
	"fmt"

	"github.com/newsroom/digest/internal/bounces"
	"github.com/spf13/cobra"
)

func (a *app) bouncesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bounces",
		Short: "Process bounce and complaint reports",
	}
	cmd.AddCommand(a.bouncesIngestCmd())
	return cmd
}

func (a *app) bouncesIngestCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "ingest FILE|DIR|-...",
		Short: "Read bounce reports (RFC 3464) and complaints (RFC 5965 ARF) and act on them",
		Long: `Read delivery-status reports and complaint (ARF) reports from .eml files,
mbox files, directories (recursively) or standard input ("-"), and act on
each: a hard bounce marks the reader bounced, a soft bounce is counted (the
reader is marked bounced at bounces.soft_threshold), a complaint
unsubscribes the reader and suppresses the address. A refusal for a reason
on the sending side (5.7.x) is reported, not held against the reader.

The reader is found by the VERP token of the envelope sender when
bounce_address is configured, else by the original Message-ID, else by the
recipient address. Every message is accounted for: acted on, skipped as not
a bounce (auto-replies, ordinary mail), or reported as unreadable, which
makes the command exit 1.`,
		Example: `  digest bounces ingest /var/mail/bounces
  digest bounces ingest saved/*.eml
  fetchmail-script | digest bounces ingest -`,
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, paths []string) error {
			if err := checkFormat(format, "table", "json"); err != nil {
				return err
			}
			ctx := cmd.Context()
			o, err := a.open(ctx, need{configFile: true, logger: true})
			if err != nil {
				return err
			}
			defer o.Close()
			_, signer, err := newLinks(o.cfg)
			if err != nil {
				return err
			}
			if err := o.openDB(ctx); err != nil {
				return err
			}
			in := bounces.NewIngester(o.db, signer, o.cfg.Bounces.SoftThreshold, o.logger)

			sum, err := in.IngestAll(ctx, paths, a.stdin)
			if err != nil {
				return err
			}
			rows := make([]bounceRow, len(sum.Items))
			for i, it := range sum.Items {
				rows[i] = toBounceRow(it)
			}
			if format == "json" {
				if err := writeJSON(a.stdout, rows); err != nil {
					return err
				}
			} else {
				tw := newTable(a.stdout)
				fmt.Fprintln(tw, "SOURCE\tKIND\tRECIPIENT\tSTATUS\tSUBSCRIBER\tMATCHED BY\tACTION")
				for _, r := range rows {
					action := r.Action
					if r.Error != "" {
						action += ": " + r.Error
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Source, dash(r.Kind), dash(r.Recipient), dash(r.Status),
						dash(r.Subscriber), dash(r.MatchedBy), action)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "\n%d reports acted on, %d matched no subscriber, %d messages not bounces, %d unreadable\n",
					sum.Acted, sum.Unmatched, sum.Skipped, sum.Unreadable)
			}
			if sum.Unreadable > 0 {
				return fmt.Errorf("%d messages could not be read; see UNREADABLE above", sum.Unreadable)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

// bounceRow is one line of the ingest report; its JSON form is stable.
type bounceRow struct {
	Source     string `json:"source"`
	Kind       string `json:"kind,omitempty"`
	Recipient  string `json:"recipient,omitempty"`
	Status     string `json:"status,omitempty"`
	Subscriber string `json:"subscriber,omitempty"`
	MatchedBy  string `json:"matched_by,omitempty"`
	Action     string `json:"action"`
	Error      string `json:"error,omitempty"`
}

// toBounceRow is the report line of one ingested message or report.
func toBounceRow(it bounces.Ingested) bounceRow {
	switch {
	case errors.Is(it.Err, bounces.ErrNotABounce):
		return bounceRow{Source: it.Source, Action: "skipped: " + it.Err.Error()}
	case it.Err != nil:
		return bounceRow{Source: it.Source, Action: "UNREADABLE", Error: it.Err.Error()}
	}
	o := it.Outcome
	return bounceRow{Source: it.Source, Kind: string(o.Report.Kind), Recipient: o.Report.Recipient,
		Status: o.Report.Status, Subscriber: o.Email, MatchedBy: o.MatchedBy, Action: string(o.Action)}
}
