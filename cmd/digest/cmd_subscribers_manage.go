package main

import (
	"errors"
	"fmt"
	"strings"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/sqlite"
	"github.com/newsroom/digest/internal/subscribers"
	"github.com/spf13/cobra"
)

// subscriberNotFound words a missing subscriber for the operator.
func subscriberNotFound(email string, err error) error {
	if errors.Is(err, digest.ErrNotFound) {
		return fmt.Errorf("no subscriber %s", email)
	}
	return err
}

func (a *app) subscribersShowCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:     "show EMAIL",
		Short:   "Show one subscriber: settings, consent, suppression and recent deliveries",
		Example: `  digest subscribers show ada@example.com`,
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format, "text", "json"); err != nil {
				return err
			}
			ctx := cmd.Context()
			o, err := a.open(ctx, need{db: true})
			if err != nil {
				return err
			}
			defer o.Close()
			db := o.db
			s, err := db.SubscriberByEmail(ctx, args[0])
			if err != nil {
				return subscriberNotFound(args[0], err)
			}
			reason, suppressed, err := db.Suppressed(ctx, s.Email)
			if err != nil {
				return err
			}
			ds, err := db.ListDeliveries(ctx, sqlite.DeliveryFilter{SubscriberID: s.ID})
			if err != nil {
				return err
			}
			if len(ds) > 5 {
				ds = ds[len(ds)-5:]
			}
			if format == "json" {
				out := struct {
					subscriberJSON
					Suppressed       bool           `json:"suppressed"`
					SuppressedReason string         `json:"suppressed_reason,omitempty"`
					Deliveries       []deliveryJSON `json:"recent_deliveries"`
				}{subscriberJSON: toSubscriberJSON(s), Suppressed: suppressed, SuppressedReason: reason, Deliveries: []deliveryJSON{}}
				for _, d := range ds {
					out.Deliveries = append(out.Deliveries, toDeliveryJSON(d, s.Email))
				}
				return writeJSON(a.stdout, out)
			}
			w := a.stdout
			fmt.Fprintf(w, "subscriber %d\n  email       %s\n  name        %s\n  status      %s\n  regions     %s\n  time zone   %s\n  send time   %s\n",
				s.ID, s.Email, dash(s.Name), s.Status, strings.Join(s.Regions, ", "), s.TimeZone, s.SendTime)
			fmt.Fprintf(w, "  last digest cut-off %s\n  joined      %s\n  updated     %s\n", timeOrDash(s.Watermark), timeOrDash(s.CreatedAt), timeOrDash(s.UpdatedAt))
			c := s.Consent
			fmt.Fprintf(w, "consent\n  source      %s\n  at          %s\n  confirmed   %s\n  ip          %s\n  user agent  %s\n  wording     %s\n",
				dash(c.Source), timeOrDash(c.At), timeOrDash(c.ConfirmedAt), dash(c.IP), dash(c.UserAgent), dash(c.TextVersion))
			if suppressed {
				fmt.Fprintf(w, "suppressed: %s\n", reason)
			}
			fmt.Fprintln(w, "recent deliveries")
			tw := newTable(w)
			for _, d := range ds {
				fmt.Fprintf(tw, "  %d\t%s\t%s\t%d attempts\t%s\n", d.ID, d.DigestDate, d.Status, d.Attempts, truncate(d.Error, 60))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}

func (a *app) subscribersUpdateCmd() *cobra.Command {
	var name, regions, zone, sendTime, status string
	cmd := &cobra.Command{
		Use:   "update EMAIL",
		Short: "Change a subscriber's name, regions, time zone, send time or status",
		Long: `Change the settings given; the others stay as they are. The new settings
are validated like a new subscriber's. Setting the status to active does not
override a suppression: unsuppress the address first.`,
		Example: `  digest subscribers update ada@example.com --regions bxl,lagos
  digest subscribers update ada@example.com --send-time 07:15 --timezone Europe/Paris
  digest subscribers update ada@example.com --status active`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			flags := cmd.Flags()
			if !flags.Changed("name") && !flags.Changed("regions") && !flags.Changed("timezone") &&
				!flags.Changed("send-time") && !flags.Changed("status") {
				return usageError{errors.New("nothing to change: give --name, --regions, --timezone, --send-time or --status")}
			}
			var ch subscribers.Changes
			if flags.Changed("name") {
				ch.Name = &name
			}
			if flags.Changed("regions") {
				ch.Regions = splitList(regions)
			}
			if flags.Changed("timezone") {
				ch.TimeZone = &zone
			}
			if flags.Changed("send-time") {
				ch.SendTime = &sendTime
			}
			if flags.Changed("status") {
				st := digest.SubscriberStatus(status)
				ch.Status = &st
			}
			ctx := cmd.Context()
			o, err := a.open(ctx, need{db: true})
			if err != nil {
				return err
			}
			defer o.Close()
			next, err := subscribers.Change(ctx, o.db, args[0], ch, subscribers.Defaults{SendTime: o.cfg.SendTime, Regions: o.cfg.Regions})
			var (
				se *subscribers.SuppressedError
				fe *digest.FieldError
			)
			switch {
			case errors.As(err, &se):
				return fmt.Errorf("%w; run 'digest subscribers unsuppress %s' first", err, se.Email)
			case errors.As(err, &fe):
				return usageError{err}
			case err != nil:
				return subscriberNotFound(args[0], err)
			}
			a.say("updated %s: %s; %s %s; %s\n", next.Email, strings.Join(next.Regions, ","), next.SendTime, next.TimeZone, next.Status)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the reader's name")
	cmd.Flags().StringVar(&regions, "regions", "", "comma-separated region codes, preferred first")
	cmd.Flags().StringVar(&zone, "timezone", "", "IANA time zone")
	cmd.Flags().StringVar(&sendTime, "send-time", "", "local time of day to send, HH:MM")
	cmd.Flags().StringVar(&status, "status", "", "pending, active, unsubscribed, bounced or expired")
	return cmd
}

func (a *app) subscribersRemoveCmd() *cobra.Command {
	var erase bool
	cmd := &cobra.Command{
		Use:   "remove EMAIL",
		Short: "Unsubscribe a reader, or erase everything about them (--erase)",
		Long: `Unsubscribe a reader: they get no more digests, and their history stays.

With --erase, delete everything the database holds about the person (GDPR
erasure): the subscriber, their regions, deliveries and history. Only a keyed
hash of the address is kept, on the suppression list, so the address is never
mailed again and no import brings it back, while the list does not reveal it.
Erasure needs the config's secret (the key of that hash) and cannot be
undone.`,
		Example: `  digest subscribers remove ada@example.com
  digest subscribers remove --erase ada@example.com`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			// Erasure hashes the address with a key derived from the
			// config's secret: it needs the real config.
			o, err := a.open(ctx, need{configFile: erase, db: true})
			if err != nil {
				return err
			}
			defer o.Close()
			db := o.db
			if erase {
				if err := db.EraseSubscriber(ctx, args[0]); err != nil {
					return err
				}
				a.say("erased %s: no data about them is left; the address stays suppressed\n", args[0])
				return nil
			}
			s, err := db.SubscriberByEmail(ctx, args[0])
			if err != nil {
				return subscriberNotFound(args[0], err)
			}
			changed, err := db.Unsubscribe(ctx, s.ID)
			if err != nil {
				return err
			}
			if changed {
				a.say("unsubscribed %s\n", s.Email)
			} else {
				a.say("%s was already unsubscribed\n", s.Email)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&erase, "erase", false, "delete all data about the person, keeping only a keyed hash that stays suppressed")
	return cmd
}

func (a *app) subscribersSuppressCmd() *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "suppress EMAIL...",
		Short: "Never mail these addresses (and unsubscribe their readers)",
		Long: `Put addresses on the suppression list: they are never mailed and imports do
not re-add them, even with --resubscribe. A reader with such an address is
unsubscribed. An address need not belong to a subscriber.`,
		Example: `  digest subscribers suppress abuse@example.com --reason "legal request 2026-118"`,
		Args:    minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			for _, e := range args {
				if _, err := subscribers.ValidateEmail(e); err != nil {
					return usageError{err}
				}
			}
			o, err := a.open(ctx, need{db: true})
			if err != nil {
				return err
			}
			defer o.Close()
			db := o.db
			for _, e := range args {
				if err := db.Suppress(ctx, e, reason); err != nil {
					return err
				}
				a.say("suppressed %s\n", e)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "suppressed by an operator", "why, for the record")
	return cmd
}

func (a *app) subscribersUnsuppressCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "unsuppress EMAIL...",
		Short: "Take addresses off the suppression list",
		Long: `Take addresses off the suppression list. This does not resubscribe anyone:
set the reader's status with 'subscribers update --status active' if they
asked to come back.`,
		Example: `  digest subscribers unsuppress ada@example.com`,
		Args:    minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			o, err := a.open(ctx, need{db: true})
			if err != nil {
				return err
			}
			defer o.Close()
			db := o.db
			missing := 0
			for _, e := range args {
				removed, err := db.Unsuppress(ctx, e)
				if err != nil {
					return err
				}
				if removed {
					a.say("unsuppressed %s\n", e)
				} else {
					fmt.Fprintf(a.stderr, "digest: %s was not suppressed\n", e)
					missing++
				}
			}
			if missing > 0 {
				return errQuietFailure
			}
			return nil
		},
	}
}
