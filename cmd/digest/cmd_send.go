package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/newsroom/digest/internal/delivery"
	"github.com/spf13/cobra"
)

func (a *app) sendCmd() *cobra.Command {
	var (
		nowFlag string
		dryRun  bool
		wait    bool
		format  string
		listMax int
	)
	cmd := &cobra.Command{
		Use:   "send",
		Short: "Run one delivery pass now",
		Long: `Run one delivery pass: every active subscriber whose local send time has
come today and who has not had today's digest gets the briefs from their
regions published since their last digest. A reader with nothing new gets
no email. Exits 1 if any digest failed; failed digests are retried by the
next pass.`,
		Example: `  digest send --config digest.yaml
  digest send --dry-run                        # render and report, send nothing
  digest send --now 2026-11-26T05:00:00Z       # re-run a pass as of that instant`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			now, err := parseInstant("now", nowFlag)
			if err != nil {
				return err
			}
			if listMax < 0 {
				return usageError{fmt.Errorf("--max-listed: want 0 (all) or more, not %d", listMax)}
			}
			if err := checkFormat(format, "table", "json"); err != nil {
				return err
			}
			ctx := cmd.Context()
			_, logger, pl, err := a.openPipeline(ctx)
			if err != nil {
				return err
			}
			defer pl.Close()
			// The pass's clock is now, advancing as the pass runs (see
			// delivery.Outbox.Run); what it records is stamped by it too.
			started := time.Now()
			pl.db.Now = func() time.Time { return now.Add(time.Since(started)) }
			runCtx := ctx
			if !dryRun {
				held, leaseCtx, err := holdSenderLease(ctx, pl.db, wait, logger)
				if err != nil {
					return err
				}
				defer held.Release()
				runCtx = leaseCtx
			}
			rep, runErr := pl.outbox.Run(runCtx, now, delivery.RunOptions{DryRun: dryRun, MaxItems: listMax})
			stopped := false
			if errors.Is(runErr, context.Canceled) && ctx.Err() != nil {
				// Stopped by a signal: what was in flight is recorded and
				// the rest stays queued. Report it; a stop is not a failure.
				runErr, stopped = nil, true
				fmt.Fprintln(a.stderr, "digest: stopped; undelivered digests stay queued for the next pass")
			}
			if runErr != nil && len(rep.Items)+rep.Omitted == 0 {
				return runErr
			}
			// A pass cut short still reports what it did before the error.
			if format == "json" {
				err = writeReportJSON(a.stdout, rep)
			} else {
				err = writeReportTable(a.stdout, rep, a.colorStatus)
			}
			if err != nil {
				return err
			}
			if runErr != nil {
				return runErr
			}
			if rep.Count(delivery.OutcomeFailed)+rep.Count(delivery.OutcomeDeferred) > 0 && !stopped {
				return errQuietFailure
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&nowFlag, "now", "", "run the pass as of this RFC 3339 instant instead of the clock")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "render and report without sending or recording")
	cmd.Flags().BoolVar(&wait, "wait", false, "if another sender holds the database, wait for it instead of exiting")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	cmd.Flags().IntVar(&listMax, "max-listed", 1000, "list at most this many readers one by one (0: all); the counts are always complete")
	return cmd
}

// writeReportTable prints the readers a pass acted on and the counts.
func writeReportTable(w io.Writer, rep delivery.Report, color func(string) string) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "SUBSCRIBER\tREGIONS\tLOCAL DAY\tOUTCOME\tBRIEFS\tHTML\tDETAIL")
	for _, it := range rep.Items {
		if it.Outcome == delivery.OutcomeNotDue {
			continue // the counts line says how many; listing them is noise
		}
		detail := it.MessageID
		if it.Err != nil {
			detail = it.Err.Error()
		}
		size := "-"
		if it.HTMLBytes > 0 {
			size = fmt.Sprintf("%.1f KB", float64(it.HTMLBytes)/1024)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", it.Subscriber.Email, strings.Join(it.Subscriber.Regions, ","),
			it.Date, color(string(it.Outcome)), len(it.BriefIDs), size, detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if rep.Omitted > 0 {
		fmt.Fprintf(w, "… and %d more, not listed (--max-listed; `digest deliveries list` has the deliveries)\n", rep.Omitted)
	}
	verb := "sent"
	if rep.DryRun {
		verb = "would send (dry run)"
	}
	_, err := fmt.Fprintf(w, "\npass at %s: %s %d, deferred %d, failed %d, suppressed %d, expired %d, interrupted %d; "+
		"nothing new %d, not due yet %d, already sent today %d, failed earlier today %d, waiting to retry %d; "+
		"planned %d, recovered %d, still queued %d\n",
		rep.Now.UTC().Format(time.RFC3339), verb, rep.Count(delivery.OutcomeSent), rep.Count(delivery.OutcomeDeferred),
		rep.Count(delivery.OutcomeFailed), rep.Count(delivery.OutcomeSuppressed), rep.Expired, rep.Count(delivery.OutcomeInterrupted),
		rep.Count(delivery.OutcomeNothingNew), rep.Count(delivery.OutcomeNotDue), rep.Count(delivery.OutcomeAlreadySent),
		rep.Count(delivery.OutcomeFailedEarlier), rep.Count(delivery.OutcomeWaiting), rep.Planned, rep.Recovered, rep.Queue)
	return err
}

// reportJSON is the stable machine form of a pass report.
type reportJSON struct {
	Now       time.Time        `json:"now"`
	DryRun    bool             `json:"dry_run"`
	Planned   int              `json:"planned"`
	Recovered int              `json:"recovered"`
	Expired   int              `json:"expired"`
	Queue     int              `json:"queue"`
	Counts    map[string]int   `json:"counts"`
	Items     []reportItemJSON `json:"items"`
	// Omitted counts the items beyond --max-listed.
	Omitted int `json:"items_omitted"`
}

type reportItemJSON struct {
	SubscriberID int64    `json:"subscriber_id"`
	Email        string   `json:"email"`
	Regions      []string `json:"regions"`
	Date         string   `json:"date"`
	Outcome      string   `json:"outcome"`
	DeliveryID   int64    `json:"delivery_id,omitempty"`
	MessageID    string   `json:"message_id,omitempty"`
	BriefIDs     []int64  `json:"brief_ids"`
	HTMLBytes    int      `json:"html_bytes,omitempty"`
	TextBytes    int      `json:"text_bytes,omitempty"`
	Error        string   `json:"error,omitempty"`
}

func writeReportJSON(w io.Writer, rep delivery.Report) error {
	out := reportJSON{Now: rep.Now.UTC(), DryRun: rep.DryRun, Planned: rep.Planned, Recovered: rep.Recovered,
		Expired: rep.Expired, Queue: rep.Queue, Counts: map[string]int{}, Items: []reportItemJSON{}, Omitted: rep.Omitted}
	for _, o := range []delivery.Outcome{delivery.OutcomeSent, delivery.OutcomeDeferred, delivery.OutcomeFailed,
		delivery.OutcomeSuppressed, delivery.OutcomeInterrupted, delivery.OutcomeNothingNew, delivery.OutcomeNotDue,
		delivery.OutcomeAlreadySent, delivery.OutcomeFailedEarlier, delivery.OutcomeWaiting} {
		out.Counts[string(o)] = rep.Count(o)
	}
	for _, it := range rep.Items {
		ij := reportItemJSON{
			SubscriberID: it.Subscriber.ID, Email: it.Subscriber.Email, Regions: it.Subscriber.Regions,
			Date: string(it.Date), Outcome: string(it.Outcome), DeliveryID: it.DeliveryID, MessageID: it.MessageID,
			BriefIDs: it.BriefIDs, HTMLBytes: it.HTMLBytes, TextBytes: it.TextBytes,
		}
		if ij.BriefIDs == nil {
			ij.BriefIDs = []int64{}
		}
		if it.Err != nil {
			ij.Error = it.Err.Error()
		}
		out.Items = append(out.Items, ij)
	}
	return writeJSON(w, out)
}
