package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/newsroom/digest/internal/config"
	"github.com/newsroom/digest/internal/delivery"
	"github.com/newsroom/digest/internal/schedule"
	"github.com/newsroom/digest/internal/sqlite"
	"github.com/spf13/cobra"
)

// forecastHours is how far ahead status forecasts who falls due.
const forecastHours = 24

func (a *app) statusCmd() *cobra.Command {
	var format, nowFlag string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the database, subscribers, briefs, deliveries and what comes next, at a glance",
		Long: `Answer an operator's first questions from the database alone (no SMTP
needed): database file, SQLite and schema versions, subscribers by status
and active ones by region, briefs published in the last 24 hours per region,
deliveries of the latest two digest dates by state (digest dates are
readers' local dates, so "today" spans two), the queue (queued and deferred
digests, the oldest queued due time), whether 'digest serve' holds the
sender lease, the next scheduled passes, and how many active readers fall
due in each of the next 24 hours (from now, by hour).

--format json writes one object: database {path, size_bytes, sqlite_version,
schema_version}, now, subscribers {status: count}, active_by_region {code:
count}, briefs_last_24h {code: count}, deliveries [{date, counts {status:
count}}], queue {queued, deferred, oldest_queued_due}, sender {holder,
expires_at, live} (absent when no lease was ever taken), next_passes [time],
due_by_hour [{from, readers}] (24 entries), unusable_time_zones (count).
Times are RFC 3339 in UTC.`,
		Example: `  digest status
  digest status --format json | jq .queue`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkFormat(format, "table", "json"); err != nil {
				return err
			}
			now, err := parseNow(nowFlag)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			o, err := a.open(ctx, need{})
			if err != nil {
				return err
			}
			defer o.Close()
			cfg := o.cfg
			passes, err := schedule.Next(cfg.Schedule, now, 3)
			if err != nil {
				return fmt.Errorf("schedule: %w", err)
			}
			if err := o.openDB(ctx); err != nil {
				return err
			}
			db := o.db
			st, err := db.Status(ctx, now)
			if err != nil {
				return err
			}
			slots, err := db.SendSlots(ctx)
			if err != nil {
				return err
			}
			due := delivery.ForecastDue(slots, now, forecastHours)
			out := toStatusJSON(cfg, now, st, due, passes)
			if format == "json" {
				return writeJSON(a.stdout, out)
			}
			return writeStatusText(a.stdout, cfg, out)
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	cmd.Flags().StringVar(&nowFlag, "now", "", "report as of this RFC 3339 instant instead of the clock (for tests and re-runs)")
	_ = cmd.Flags().MarkHidden("now")
	return cmd
}

// statusJSON is the stable machine form of `digest status`.
type statusJSON struct {
	Database struct {
		Path          string `json:"path"`
		SizeBytes     int64  `json:"size_bytes"`
		SQLiteVersion string `json:"sqlite_version"`
		SchemaVersion int    `json:"schema_version"`
	} `json:"database"`
	Now            time.Time        `json:"now"`
	Subscribers    map[string]int   `json:"subscribers"`
	ActiveByRegion map[string]int   `json:"active_by_region"`
	BriefsLast24h  map[string]int   `json:"briefs_last_24h"`
	Deliveries     []dateCountsJSON `json:"deliveries"`
	Queue          queueJSON        `json:"queue"`
	Sender         *leaseJSON       `json:"sender,omitempty"`
	NextPasses     []time.Time      `json:"next_passes"`
	DueByHour      []dueHourJSON    `json:"due_by_hour"`
	BadZones       int              `json:"unusable_time_zones"`
}

type dateCountsJSON struct {
	Date   string         `json:"date"`
	Counts map[string]int `json:"counts"`
}

type queueJSON struct {
	Queued          int        `json:"queued"`
	Deferred        int        `json:"deferred"`
	OldestQueuedDue *time.Time `json:"oldest_queued_due,omitempty"`
}

type leaseJSON struct {
	Holder    string    `json:"holder"`
	ExpiresAt time.Time `json:"expires_at"`
	Live      bool      `json:"live"`
}

type dueHourJSON struct {
	From    time.Time `json:"from"`
	Readers int       `json:"readers"`
}

func toStatusJSON(cfg *config.Config, now time.Time, st sqlite.Status, due delivery.DueForecast, passes []time.Time) statusJSON {
	var out statusJSON
	out.Database.Path, out.Database.SizeBytes = st.Path, st.FileSize
	out.Database.SQLiteVersion, out.Database.SchemaVersion = st.SQLiteVersion, st.SchemaVersion
	out.Now = now.UTC()
	// Every known status and configured region appears, zeros included, so
	// a script need not tell "none" from "missing".
	out.Subscribers = map[string]int{}
	for _, s := range digest.SubscriberStatuses {
		out.Subscribers[string(s)] = st.Subscribers[s]
	}
	out.ActiveByRegion, out.BriefsLast24h = map[string]int{}, map[string]int{}
	for _, code := range cfg.Regions.Codes() {
		out.ActiveByRegion[code], out.BriefsLast24h[code] = 0, 0
	}
	for k, n := range st.ActiveByRegion {
		out.ActiveByRegion[k] = n
	}
	for k, n := range st.RecentBriefs {
		out.BriefsLast24h[k] = n
	}
	out.Deliveries = []dateCountsJSON{}
	for _, d := range st.Dates {
		dc := dateCountsJSON{Date: string(d.Date), Counts: map[string]int{}}
		for s, n := range d.Counts {
			dc.Counts[string(s)] = n
		}
		out.Deliveries = append(out.Deliveries, dc)
	}
	out.Queue = queueJSON{Queued: st.Queued, Deferred: st.Deferred, OldestQueuedDue: optTime(st.OldestQueuedDue)}
	for _, l := range st.Leases {
		if l.Name == delivery.SenderLease {
			out.Sender = &leaseJSON{Holder: l.Holder, ExpiresAt: l.ExpiresAt.UTC(), Live: l.ExpiresAt.After(now)}
		}
	}
	out.NextPasses = append([]time.Time{}, passes...)
	out.DueByHour = make([]dueHourJSON, len(due.Hours))
	for i, n := range due.Hours {
		out.DueByHour[i] = dueHourJSON{From: due.From.Add(time.Duration(i) * time.Hour), Readers: n}
	}
	out.BadZones = due.BadZones
	return out
}

func writeStatusText(w io.Writer, cfg *config.Config, s statusJSON) error {
	const stamp = "2006-01-02 15:04:05Z"
	fmt.Fprintf(w, "database     %s (%s)\n", s.Database.Path, humanBytes(s.Database.SizeBytes))
	fmt.Fprintf(w, "             SQLite %s, schema version %d\n", s.Database.SQLiteVersion, s.Database.SchemaVersion)
	fmt.Fprintf(w, "now          %s\n", s.Now.Format(stamp))

	total := 0
	var parts []string
	for _, st := range digest.SubscriberStatuses {
		total += s.Subscribers[string(st)]
		parts = append(parts, fmt.Sprintf("%s %d", st, s.Subscribers[string(st)]))
	}
	fmt.Fprintf(w, "\nsubscribers  %d: %s\n", total, strings.Join(parts, ", "))

	fmt.Fprintln(w)
	tw := newTable(w)
	fmt.Fprintln(tw, "region\tactive readers\tbriefs in the last 24h")
	for _, code := range sortedRegionKeys(cfg, s.ActiveByRegion, s.BriefsLast24h) {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", code, s.ActiveByRegion[code], s.BriefsLast24h[code])
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(w, "\ndeliveries   today is %s in UTC; digest dates are readers' local dates\n", s.Now.Format(time.DateOnly))
	if len(s.Deliveries) == 0 {
		fmt.Fprintln(w, "             none yet")
	}
	for _, d := range s.Deliveries {
		var parts []string
		for _, st := range digest.DeliveryStatuses {
			if n := d.Counts[string(st)]; n > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", st, n))
			}
		}
		fmt.Fprintf(w, "  %s   %s\n", d.Date, strings.Join(parts, ", "))
	}
	oldest := "-"
	if s.Queue.OldestQueuedDue != nil {
		oldest = s.Queue.OldestQueuedDue.Format(stamp)
	}
	fmt.Fprintf(w, "queue        %d queued, %d deferred; oldest queued due %s\n", s.Queue.Queued, s.Queue.Deferred, oldest)

	switch {
	case s.Sender == nil:
		fmt.Fprintln(w, "sender       no sender has run on this database")
	case s.Sender.Live:
		fmt.Fprintf(w, "sender       serve running on %s until %s (lease renewed while it runs)\n", s.Sender.Holder, s.Sender.ExpiresAt.Format(stamp))
	default:
		fmt.Fprintf(w, "sender       none running; last held by %s, expired %s\n", s.Sender.Holder, s.Sender.ExpiresAt.Format(stamp))
	}
	var next []string
	for _, p := range s.NextPasses {
		next = append(next, p.Format("15:04Z"))
	}
	fmt.Fprintf(w, "next passes  %s (schedule %q, UTC)\n", strings.Join(next, ", "), cfg.Schedule)

	fmt.Fprintf(w, "\nactive readers falling due, by hour from now:\n")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	for _, h := range s.DueByHour {
		fmt.Fprintf(tw, "  %s–%s\t%d\t\n", h.From.Format("Jan 02 15:04"), h.From.Add(time.Hour).Format("15:04Z"), h.Readers)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if s.BadZones > 0 {
		fmt.Fprintf(w, "warning: %d active readers have a time zone this system cannot load; no pass can send to them\n", s.BadZones)
	}
	return nil
}

// sortedRegionKeys is the configured regions in order, then any other
// region found in the data (one dropped from the config), sorted.
func sortedRegionKeys(cfg *config.Config, maps ...map[string]int) []string {
	keys := cfg.Regions.Codes()
	known := map[string]bool{}
	for _, k := range keys {
		known[k] = true
	}
	var extra []string
	for _, m := range maps {
		for k := range m {
			if !known[k] {
				known[k] = true
				extra = append(extra, k)
			}
		}
	}
	sort.Strings(extra)
	return append(keys, extra...)
}
