package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
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
	cmd.AddCommand(a.subscribersAddCmd(), a.subscribersListCmd())
	return cmd
}

func (a *app) subscribersAddCmd() *cobra.Command {
	var (
		in      subscribers.Input
		regions string
		status  string
	)
	cmd := &cobra.Command{
		Use:   "add EMAIL",
		Short: "Add a subscriber",
		Long: `Add a subscriber. --regions lists the editions in the reader's order: their
digest shows the first region first. The time zone defaults to the first
region's, the send time to the configured send_time.`,
		Example: `  digest subscribers add ada@example.com --name "Ada Okafor" --regions lagos,bxl
  digest subscribers add zoe@example.org --regions bxl --timezone Europe/Paris --send-time 07:30`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.loadConfig(false)
			if err != nil {
				return err
			}
			in.Email = args[0]
			in.Regions = splitList(regions)
			in.Status = digest.SubscriberStatus(status)
			sub, err := subscribers.New(in, subscribers.Defaults{SendTime: cfg.SendTime, Regions: cfg.Regions})
			if err != nil {
				return usageError{err}
			}
			// An operator adding a reader by hand vouches for their consent.
			sub.Consent = digest.Consent{Source: "cli", At: time.Now().UTC()}
			ctx := cmd.Context()
			db, err := openDB(ctx, cfg)
			if err != nil {
				return err
			}
			defer db.Close()
			if err := db.CreateSubscriber(ctx, &sub); err != nil {
				if errors.Is(err, digest.ErrConflict) {
					return fmt.Errorf("subscriber %s already exists", sub.Email)
				}
				return fmt.Errorf("add subscriber %s: %w", sub.Email, err)
			}
			fmt.Fprintf(a.stdout, "added subscriber %d %s (%s; %s %s; %s)\n", sub.ID, sub.Email,
				strings.Join(sub.Regions, ","), sub.SendTime, sub.TimeZone, sub.Status)
			return nil
		},
	}
	cmd.Flags().StringVar(&in.Name, "name", "", "the reader's name, used in the greeting and the To header")
	cmd.Flags().StringVar(&regions, "regions", "", "comma-separated region codes, preferred first (required)")
	cmd.Flags().StringVar(&in.TimeZone, "timezone", "", "IANA time zone (default: the first region's)")
	cmd.Flags().StringVar(&in.SendTime, "send-time", "", "local time of day to send, HH:MM (default: config send_time)")
	cmd.Flags().StringVar(&status, "status", string(digest.StatusActive), "pending, active, unsubscribed or bounced")
	return cmd
}

func (a *app) subscribersListCmd() *cobra.Command {
	var (
		status, region, format string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List subscribers",
		Example: `  digest subscribers list
  digest subscribers list --status active --region lagos --format json`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if format != "table" && format != "json" {
				return usageError{fmt.Errorf("--format: %q is not one of table, json", format)}
			}
			st := digest.SubscriberStatus(status)
			if status != "" && !st.Valid() {
				return usageError{fmt.Errorf("--status: %q is not one of pending, active, unsubscribed, bounced", status)}
			}
			cfg, err := a.loadConfig(false)
			if err != nil {
				return err
			}
			if _, ok := cfg.Regions.Lookup(region); region != "" && !ok {
				return usageError{fmt.Errorf("--region: unknown region %q (known: %s)", region, strings.Join(cfg.Regions.Codes(), ", "))}
			}
			ctx := cmd.Context()
			db, err := openDB(ctx, cfg)
			if err != nil {
				return err
			}
			defer db.Close()
			subs, err := db.ListSubscribers(ctx, sqlite.SubscriberFilter{Status: st, Region: region})
			if err != nil {
				return fmt.Errorf("list subscribers: %w", err)
			}
			if format == "json" {
				return writeSubscribersJSON(a.stdout, subs)
			}
			return writeSubscribersTable(a.stdout, subs)
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "only subscribers with this status")
	cmd.Flags().StringVar(&region, "region", "", "only subscribers of this region")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

func writeSubscribersTable(w io.Writer, subs []digest.Subscriber) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tNAME\tREGIONS\tTIME ZONE\tSEND\tSTATUS\tLAST DIGEST CUT-OFF")
	for _, s := range subs {
		wm := "-"
		if !s.Watermark.IsZero() {
			wm = s.Watermark.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Email, s.Name, strings.Join(s.Regions, ","), s.TimeZone, s.SendTime, s.Status, wm)
	}
	return tw.Flush()
}

// subscriberJSON is the stable machine form of a subscriber.
type subscriberJSON struct {
	ID        int64      `json:"id"`
	Email     string     `json:"email"`
	Name      string     `json:"name"`
	Regions   []string   `json:"regions"`
	TimeZone  string     `json:"timezone"`
	SendTime  string     `json:"send_time"`
	Status    string     `json:"status"`
	Watermark *time.Time `json:"watermark,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
	UpdatedAt time.Time  `json:"updated_at"`
}

func writeSubscribersJSON(w io.Writer, subs []digest.Subscriber) error {
	out := make([]subscriberJSON, 0, len(subs))
	for _, s := range subs {
		sj := subscriberJSON{ID: s.ID, Email: s.Email, Name: s.Name, Regions: s.Regions, TimeZone: s.TimeZone,
			SendTime: s.SendTime.String(), Status: string(s.Status), CreatedAt: s.CreatedAt.UTC(), UpdatedAt: s.UpdatedAt.UTC()}
		if !s.Watermark.IsZero() {
			wm := s.Watermark.UTC()
			sj.Watermark = &wm
		}
		out = append(out, sj)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// splitList splits "a, b,c" into ["a" "b" "c"], dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
