package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	digest "github.com/newsroom/digest"
	"github.com/spf13/cobra"
)

// Checks and parsers of arguments and flag values that several commands
// share; a bad value is a usage error (exit 2).

// exactArgs is cobra.ExactArgs reporting a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.ExactArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// minArgs is cobra.MinimumNArgs reporting a usage error.
func minArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.MinimumNArgs(n)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// parseInstant reads a flag that names an instant (--now, --at): the
// clock when s is empty, else s as RFC 3339, with an example of the form
// in the error.
func parseInstant(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Now(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, usageError{fmt.Errorf("--%s: want an RFC 3339 time like 2026-11-26T05:00:00Z: %w", flag, err)}
	}
	return t, nil
}

// parseNow reads a hidden --now flag: the clock, unless an RFC 3339 instant
// is given, in UTC.
func parseNow(s string) (time.Time, error) {
	t, err := parseInstant("now", s)
	return t.UTC(), err
}

// parseSince reads --since: a duration back from now (Go syntax, or Nd for
// days), a date (its midnight UTC) or an RFC 3339 instant. "" is the zero
// time: no bound.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n >= 0 {
			return now.AddDate(0, 0, -n), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, usageError{fmt.Errorf("--since: %q is neither a duration (24h, 7d) nor a date (2026-11-25) nor an RFC 3339 instant", s)}
}

// parseStatus reads --status, a delivery status.
func parseStatus(s string) (digest.DeliveryStatus, error) {
	st := digest.DeliveryStatus(s)
	if s != "" && !st.Valid() {
		names := make([]string, len(digest.DeliveryStatuses))
		for i, v := range digest.DeliveryStatuses {
			names[i] = string(v)
		}
		return "", usageError{fmt.Errorf("--status: %q is not one of %s", s, strings.Join(names, ", "))}
	}
	return st, nil
}

// parseDate reads --date, a local digest date.
func parseDate(s string) (digest.Date, error) {
	if s == "" {
		return "", nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return "", usageError{fmt.Errorf("--date: %q is not a date like 2026-11-26", s)}
	}
	return digest.DateOf(t), nil
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

// checkRegion refuses a --region flag that names no configured region.
func checkRegion(regions digest.Regions, region string) error {
	if _, ok := regions.Lookup(region); region != "" && !ok {
		return usageError{fmt.Errorf("--region: unknown region %q (known: %s)", region, strings.Join(regions.Codes(), ", "))}
	}
	return nil
}
