package sqlite

import (
	"fmt"
	"time"
)

// timeLayout is how instants are stored: UTC, fixed width, nine fractional
// digits. Fixed width makes text order equal time order for years 0001-9999,
// so SQL compares and sorts instants as text; nanoseconds make the round trip
// exact; and the sqlite3 CLI and SQLite's date functions read it.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// checkTime reports whether t can be stored without losing its order.
func checkTime(t time.Time) error {
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return fmt.Errorf("%s is outside the years 0001-9999", t.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// formatTime returns t as stored. Callers check it with checkTime first.
func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// nullTime returns t as stored, or NULL for the zero time ("never").
func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return formatTime(t)
}

// parseTime reads an instant as stored.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s, err)
	}
	// time.Parse is lenient (a one-digit hour, a comma before the
	// fraction), but SQL compares the text: a value not in the exact stored
	// form would sort wrongly, so refuse it rather than misorder it.
	if formatTime(t) != s {
		return time.Time{}, fmt.Errorf("stored time %q: not in the form %s", s, timeLayout)
	}
	return t.UTC(), nil
}

// timeCol scans a stored instant (or NULL, as the zero time) into *t.
type timeCol struct{ t *time.Time }

// Scan implements sql.Scanner.
func (c timeCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.t = time.Time{}
		return nil
	case string:
		t, err := parseTime(v)
		*c.t = t
		return err
	case []byte:
		t, err := parseTime(string(v))
		*c.t = t
		return err
	}
	return fmt.Errorf("stored time: unexpected %T", src)
}

// boundTime returns t as stored, for use as a query bound: instants outside
// the storable years are clamped to the first or last storable one, which
// compares the same way against every stored value.
func boundTime(t time.Time) string {
	switch y := t.UTC().Year(); {
	case y < 1:
		return formatTime(time.Time{})
	case y > 9999:
		return formatTime(time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC))
	}
	return formatTime(t)
}
