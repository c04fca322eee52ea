package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/sqlite"
	"github.com/newsroom/digest/internal/subscribers"
	"github.com/spf13/cobra"
)

func (a *app) subscribersCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "subscribers",
		Aliases: []string{"subs"},
		Short:   "Manage subscribers",
	}
	cmd.AddCommand(a.subscribersAddCmd(), a.subscribersShowCmd(), a.subscribersUpdateCmd(), a.subscribersRemoveCmd(),
		a.subscribersListCmd(), a.subscribersImportCmd(), a.subscribersExportCmd(),
		a.subscribersSuppressCmd(), a.subscribersUnsuppressCmd())
	return cmd
}

func (a *app) subscribersAddCmd() *cobra.Command {
	var (
		in      subscribers.Input
		regions string
		status  string
		confirm bool
	)
	cmd := &cobra.Command{
		Use:   "add EMAIL",
		Short: "Add a subscriber",
		Long: `Add a subscriber. --regions lists the editions in the reader's order: their
digest shows the first region first. The time zone defaults to the first
region's, the send time to the configured send_time.

With --confirm (double opt-in) the reader is stored as pending and emailed a
link to confirm, over the configured SMTP server; they get digests only once
they press the button on the page it opens, and the sign-up lapses
(expired) if they have not after optin.expire_after. If the email cannot be
sent, the reader stays stored as pending and the command exits 1.`,
		Example: `  digest subscribers add ada@example.com --name "Ada Okafor" --regions lagos,bxl
  digest subscribers add zoe@example.org --regions bxl --timezone Europe/Paris --send-time 07:30
  digest subscribers add kemi@example.com --regions lagos --confirm`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if confirm && cmd.Flags().Changed("status") && status != string(digest.StatusPending) {
				return usageError{fmt.Errorf("--confirm adds the reader as pending; it cannot be combined with --status %s", status)}
			}
			// Sending the invitation needs the real config (SMTP, secret,
			// base_url); a plain add can run on the defaults.
			ctx := cmd.Context()
			o, err := a.open(ctx, need{configFile: confirm, logger: confirm})
			if err != nil {
				return err
			}
			defer o.Close()
			in.Email = args[0]
			in.Regions = splitList(regions)
			in.Status = digest.SubscriberStatus(status)
			if confirm {
				in.Status = digest.StatusPending
			}
			sub, err := subscribers.New(in, subscribers.Defaults{SendTime: o.cfg.SendTime, Regions: o.cfg.Regions})
			if err != nil {
				return usageError{err}
			}
			// An operator adding a reader by hand vouches for their consent;
			// with --confirm the reader gives it, and ConfirmSubscriber
			// records when.
			sub.Consent = digest.Consent{Source: "cli", At: time.Now().UTC()}
			var inv *invitations
			if confirm {
				sub.Consent.At = time.Time{}
				// Checked before anything is stored: a configuration
				// mistake must not leave a reader pending without an email.
				if inv, err = newInvitations(o.cfg, o.logger); err != nil {
					return err
				}
				defer inv.Close()
			}
			if err := o.openDB(ctx); err != nil {
				return err
			}
			if err := subscribers.Add(ctx, o.db, &sub); err != nil {
				var se *subscribers.SuppressedError
				if errors.As(err, &se) {
					return fmt.Errorf("%w; run 'digest subscribers unsuppress %s' first if they asked to come back", err, se.Email)
				}
				return err
			}
			a.say("added subscriber %d %s (%s; %s %s; %s)\n", sub.ID, sub.Email,
				strings.Join(sub.Regions, ","), sub.SendTime, sub.TimeZone, sub.Status)
			if inv == nil {
				return nil
			}
			if err := inv.Invite(ctx, sub); err != nil {
				return fmt.Errorf("subscriber %s is stored as pending, but the confirmation email was not sent: %w", sub.Email, err)
			}
			a.say("sent the confirmation email to %s\n", sub.Email)
			return nil
		},
	}
	cmd.Flags().StringVar(&in.Name, "name", "", "the reader's name, used in the greeting and the To header")
	cmd.Flags().StringVar(&regions, "regions", "", "comma-separated region codes, preferred first (required)")
	cmd.Flags().StringVar(&in.TimeZone, "timezone", "", "IANA time zone (default: the first region's)")
	cmd.Flags().StringVar(&in.SendTime, "send-time", "", "local time of day to send, HH:MM (default: config send_time)")
	cmd.Flags().StringVar(&status, "status", string(digest.StatusActive), "pending, active, unsubscribed, bounced or expired")
	cmd.Flags().BoolVar(&confirm, "confirm", false, "double opt-in: add as pending and email a confirmation link")
	return cmd
}

func (a *app) subscribersListCmd() *cobra.Command {
	var status, region, search, since, until, format string
	var limit int
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List subscribers",
		Long: `List subscribers, oldest first, filtered by status, region, join date and a
search string (matched case-insensitively, literally, against email and
name). --format is table on a terminal and json otherwise, unless given:

  json  an array of {id, email, name, regions, timezone, send_time, status,
        watermark, created_at, updated_at, consent_source}
  csv   the columns of 'subscribers export' (which streams; use it for big
        lists), with formula-looking cells neutralised`,
		Example: `  digest subscribers list
  digest subscribers list --status active --region lagos --format json
  digest subscribers list --search okafor --since 2026-11-01`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format == "" {
				format = "json"
				if isTerminal(a.stdout) {
					format = "table"
				}
			}
			if err := checkFormat(format, "table", "csv", "json"); err != nil {
				return err
			}
			st := digest.SubscriberStatus(status)
			if status != "" && !st.Valid() {
				return usageError{fmt.Errorf("--status: %q is not one of pending, active, unsubscribed, bounced, expired", status)}
			}
			f := sqlite.SubscriberFilter{Status: st, Region: region, Search: search, Limit: limit}
			for _, d := range []struct {
				flag, v string
				dst     *time.Time
			}{{"--since", since, &f.CreatedAfter}, {"--until", until, &f.CreatedBefore}} {
				if d.v == "" {
					continue
				}
				t, err := time.Parse(time.DateOnly, d.v)
				if err != nil {
					if t, err = time.Parse(time.RFC3339, d.v); err != nil {
						return usageError{fmt.Errorf("%s: %q is not a date (2026-11-26) or an RFC 3339 time", d.flag, d.v)}
					}
				}
				*d.dst = t
			}
			ctx := cmd.Context()
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
			subs, err := o.db.ListSubscribers(ctx, f)
			if err != nil {
				return fmt.Errorf("list subscribers: %w", err)
			}
			switch format {
			case "json":
				return writeSubscribersJSON(a.stdout, subs)
			case "csv":
				return writeSubscribersCSV(a.stdout, subs)
			}
			return a.writeSubscribersTable(subs)
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "only subscribers with this status")
	cmd.Flags().StringVar(&region, "region", "", "only subscribers of this region")
	cmd.Flags().StringVar(&search, "search", "", "only subscribers whose email or name contains this")
	cmd.Flags().StringVar(&since, "since", "", "only subscribers who joined on or after this date")
	cmd.Flags().StringVar(&until, "until", "", "only subscribers who joined before this date")
	cmd.Flags().IntVar(&limit, "limit", 0, "at most this many")
	cmd.Flags().StringVar(&format, "format", "", "output format: table, csv or json (default: table on a terminal, json otherwise)")
	return cmd
}

func (a *app) writeSubscribersTable(subs []digest.Subscriber) error {
	tw := newTable(a.stdout)
	fmt.Fprintln(tw, "ID\tEMAIL\tNAME\tREGIONS\tTIME ZONE\tSEND\tSTATUS\tJOINED")
	for _, s := range subs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Email, s.Name, strings.Join(s.Regions, ","),
			s.TimeZone, s.SendTime, a.colorStatus(string(s.Status)), s.CreatedAt.UTC().Format(time.DateOnly))
	}
	return tw.Flush()
}

// subscriberJSON is the stable machine form of a subscriber.
type subscriberJSON struct {
	ID            int64      `json:"id"`
	Email         string     `json:"email"`
	Name          string     `json:"name"`
	Regions       []string   `json:"regions"`
	TimeZone      string     `json:"timezone"`
	SendTime      string     `json:"send_time"`
	Status        string     `json:"status"`
	Watermark     *time.Time `json:"watermark,omitempty"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	ConsentSource string     `json:"consent_source"`
}

func writeSubscribersJSON(w io.Writer, subs []digest.Subscriber) error {
	out := make([]subscriberJSON, 0, len(subs))
	for _, s := range subs {
		out = append(out, toSubscriberJSON(s))
	}
	return writeJSON(w, out)
}

// writeSubscribersCSV writes the list in the export's CSV form, formula
// cells neutralised, so it can be opened in a spreadsheet or re-imported.
func writeSubscribersCSV(w io.Writer, subs []digest.Subscriber) error {
	e, err := subscribers.NewExporter(w, subscribers.CSV)
	if err != nil {
		return err
	}
	for _, s := range subs {
		if err := e.Write(s); err != nil {
			return err
		}
	}
	return e.Flush()
}

func toSubscriberJSON(s digest.Subscriber) subscriberJSON {
	sj := subscriberJSON{ID: s.ID, Email: s.Email, Name: s.Name, Regions: s.Regions, TimeZone: s.TimeZone,
		SendTime: s.SendTime.String(), Status: string(s.Status), CreatedAt: s.CreatedAt.UTC(), UpdatedAt: s.UpdatedAt.UTC(),
		ConsentSource: s.Consent.Source}
	if sj.Regions == nil {
		sj.Regions = []string{}
	}
	if !s.Watermark.IsZero() {
		wm := s.Watermark.UTC()
		sj.Watermark = &wm
	}
	return sj
}
