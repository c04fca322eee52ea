package main

import (
	"fmt"
	"strconv"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/sqlite"
	"github.com/spf13/cobra"
)

func (a *app) deliveriesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "deliveries",
		Short: "See and act on the delivery ledger",
	}
	cmd.AddCommand(a.deliveriesListCmd(), a.deliveriesShowCmd(), a.deliveriesRetryCmd())
	return cmd
}

func (a *app) deliveriesListCmd() *cobra.Command {
	var status, date, email, format string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List deliveries",
		Example: `  digest deliveries list --status failed
  digest deliveries list --date 2026-11-26 --format json
  digest deliveries list --subscriber ada@example.com`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := parseStatus(status)
			if err != nil {
				return err
			}
			d, err := parseDate(date)
			if err != nil {
				return err
			}
			if err := checkFormat(format, "table", "json"); err != nil {
				return err
			}
			ctx := cmd.Context()
			o, err := a.open(ctx, need{db: true})
			if err != nil {
				return err
			}
			defer o.Close()
			db := o.db
			f := sqlite.DeliveryFilter{Status: st, Date: d}
			if email != "" {
				s, err := db.SubscriberByEmail(ctx, email)
				if err != nil {
					return fmt.Errorf("--subscriber %s: %w", email, err)
				}
				f.SubscriberID = s.ID
			}
			ds, err := db.ListDeliveries(ctx, f)
			if err != nil {
				return err
			}
			emails := map[int64]string{}
			for _, dl := range ds {
				if _, ok := emails[dl.SubscriberID]; !ok {
					s, err := db.Subscriber(ctx, dl.SubscriberID)
					if err != nil {
						return err
					}
					emails[dl.SubscriberID] = s.Email
				}
			}
			if format == "json" {
				out := make([]deliveryJSON, len(ds))
				for i, dl := range ds {
					out[i] = toDeliveryJSON(dl, emails[dl.SubscriberID])
				}
				return writeJSON(a.stdout, out)
			}
			tw := newTable(a.stdout)
			fmt.Fprintln(tw, "ID\tSUBSCRIBER\tDATE\tSTATUS\tATTEMPTS\tNEXT ATTEMPT\tBRIEFS\tERROR")
			for _, dl := range ds {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%s\t%d\t%s\n", dl.ID, emails[dl.SubscriberID], dl.DigestDate, a.colorStatus(string(dl.Status)),
					dl.Attempts, timeOrDash(dl.NextAttemptAt), len(dl.BriefIDs), truncate(dl.Error, 80))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "only deliveries in this status")
	cmd.Flags().StringVar(&date, "date", "", "only deliveries of this local digest date (YYYY-MM-DD)")
	cmd.Flags().StringVar(&email, "subscriber", "", "only this subscriber's deliveries (email)")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

func (a *app) deliveriesShowCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:     "show ID",
		Short:   "Show one delivery and every state it went through",
		Example: `  digest deliveries show 42`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return usageError{fmt.Errorf("%q is not a delivery id", args[0])}
			}
			ctx := cmd.Context()
			o, err := a.open(ctx, need{db: true})
			if err != nil {
				return err
			}
			defer o.Close()
			db := o.db
			d, err := db.Delivery(ctx, id)
			if err != nil {
				return err
			}
			sub, err := db.Subscriber(ctx, d.SubscriberID)
			if err != nil {
				return err
			}
			evs, err := db.DeliveryEvents(ctx, id)
			if err != nil {
				return err
			}
			if format == "json" {
				out := struct {
					deliveryJSON
					Events []eventJSON `json:"events"`
				}{deliveryJSON: toDeliveryJSON(d, sub.Email), Events: []eventJSON{}}
				for _, e := range evs {
					out.Events = append(out.Events, eventJSON{At: e.At.UTC(), From: string(e.From), To: string(e.To), Reason: e.Reason})
				}
				return writeJSON(a.stdout, out)
			}
			w := a.stdout
			fmt.Fprintf(w, "delivery %d\n  subscriber  %s (id %d)\n  date        %s\n  status      %s\n  attempts    %d\n  message-id  %s\n",
				d.ID, sub.Email, sub.ID, d.DigestDate, d.Status, d.Attempts, d.MessageID)
			fmt.Fprintf(w, "  briefs      %v\n  cut-off     %s\n  due at      %s\n  next try    %s\n  sent at     %s\n",
				d.BriefIDs, timeOrDash(d.Cutoff), timeOrDash(d.DueAt), timeOrDash(d.NextAttemptAt), timeOrDash(d.SentAt))
			if d.Error != "" {
				fmt.Fprintf(w, "  last error  %s\n", d.Error)
			}
			fmt.Fprintln(w, "\nhistory:")
			tw := newTable(w)
			for _, e := range evs {
				fmt.Fprintf(tw, "  %s\t%s → %s\t%s\n", e.At.UTC().Format(time.RFC3339), dash(string(e.From)), e.To, e.Reason)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

func (a *app) deliveriesRetryCmd() *cobra.Command {
	var (
		status, date string
		ids          []int64
	)
	cmd := &cobra.Command{
		Use:   "retry",
		Short: "Put failed, deferred, expired or suppressed deliveries back in the queue",
		Long: `Put deliveries back in the queue; the next pass sends them with their
original Message-ID, so a receiver can tell a re-send. Sent deliveries and
ones being sent are never touched. Say which: --id, or --status (with an
optional --date).`,
		Example: `  digest deliveries retry --status failed --date 2026-11-26
  digest deliveries retry --id 42 --id 43`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := parseStatus(status)
			if err != nil {
				return err
			}
			d, err := parseDate(date)
			if err != nil {
				return err
			}
			if len(ids) == 0 && st == "" {
				return usageError{fmt.Errorf("say which deliveries: --id ID or --status failed|deferred|expired|suppressed")}
			}
			ctx := cmd.Context()
			o, err := a.open(ctx, need{db: true})
			if err != nil {
				return err
			}
			defer o.Close()
			db := o.db
			n, err := db.RequeueDeliveries(ctx, sqlite.RetryFilter{IDs: ids, Status: st, Date: d})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "re-queued %d deliveries; the next pass sends them with their original Message-IDs\n", n)
			return nil
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "re-queue deliveries in this status: failed, deferred, expired or suppressed")
	cmd.Flags().StringVar(&date, "date", "", "only deliveries of this local digest date (YYYY-MM-DD)")
	cmd.Flags().Int64SliceVar(&ids, "id", nil, "re-queue this delivery (repeatable)")
	return cmd
}

// deliveryJSON is the stable machine form of a delivery.
type deliveryJSON struct {
	ID            int64      `json:"id"`
	SubscriberID  int64      `json:"subscriber_id"`
	Email         string     `json:"email"`
	Date          string     `json:"date"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	MessageID     string     `json:"message_id"`
	BriefIDs      []int64    `json:"brief_ids"`
	Error         string     `json:"error,omitempty"`
	Cutoff        time.Time  `json:"cutoff"`
	DueAt         *time.Time `json:"due_at,omitempty"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	SentAt        *time.Time `json:"sent_at,omitempty"`
}

type eventJSON struct {
	At     time.Time `json:"at"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Reason string    `json:"reason"`
}

func toDeliveryJSON(d digest.Delivery, email string) deliveryJSON {
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		u := t.UTC()
		return &u
	}
	ids := d.BriefIDs
	if ids == nil {
		ids = []int64{}
	}
	return deliveryJSON{ID: d.ID, SubscriberID: d.SubscriberID, Email: email, Date: string(d.DigestDate), Status: string(d.Status),
		Attempts: d.Attempts, MessageID: d.MessageID, BriefIDs: ids, Error: d.Error, Cutoff: d.Cutoff.UTC(),
		DueAt: opt(d.DueAt), NextAttemptAt: opt(d.NextAttemptAt), SentAt: opt(d.SentAt)}
}
