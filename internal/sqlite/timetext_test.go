package sqlite

import (
	"testing"
	"time"
)

func TestTimeTextOrderAndRoundTrip(t *testing.T) {
	times := []time.Time{
		{},
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 1, 7, 0, 0, 0, time.UTC),
		time.Date(2026, 3, 1, 7, 0, 0, 1, time.UTC),
		time.Date(2026, 3, 1, 7, 0, 0, 10, time.UTC),
		time.Date(2026, 3, 1, 7, 0, 1, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
	}
	for i, a := range times {
		s := formatTime(a)
		if len(s) != len(timeLayout) {
			t.Errorf("formatTime(%v) = %q, not fixed width", a, s)
		}
		back, err := parseTime(s)
		if err != nil || !back.Equal(a) || back.Location() != time.UTC {
			t.Errorf("parseTime(formatTime(%v)) = %v, %v", a, back, err)
		}
		for _, b := range times[i+1:] {
			if !(formatTime(a) < formatTime(b)) {
				t.Errorf("text order disagrees with time order: %q >= %q", formatTime(a), formatTime(b))
			}
		}
	}
}

// FuzzTimeText checks the two properties SQL relies on: stored text round
// trips to the same instant, and text order is time order.
func FuzzTimeText(f *testing.F) {
	f.Add(int64(0), int64(0), int64(1))
	f.Add(int64(-62135596800), int64(0), int64(253402300799))
	f.Add(int64(1772348400), int64(999999999), int64(1772348400))
	f.Fuzz(func(t *testing.T, sec, nsec, sec2 int64) {
		a := time.Unix(sec, nsec%1e9)
		b := time.Unix(sec2, 0)
		if checkTime(a) != nil || checkTime(b) != nil {
			return
		}
		back, err := parseTime(formatTime(a))
		if err != nil || !back.Equal(a) {
			t.Fatalf("round trip of %v: %v, %v", a, back, err)
		}
		if got, want := formatTime(a) < formatTime(b), a.Before(b); got != want {
			t.Fatalf("%v before %v is %v, but text comparison says %v", a, b, want, got)
		}
	})
}

// FuzzParseTime feeds arbitrary text, as a hand-edited database might hold:
// parseTime never panics, and what it accepts is exactly what formatTime
// writes.
func FuzzParseTime(f *testing.F) {
	f.Add("2026-03-01T07:00:00.000000000Z")
	f.Add("2026-03-01T07:00:00Z")
	f.Add("2026-02-30T07:00:00.000000000Z")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := parseTime(s)
		if err != nil {
			return
		}
		if got := formatTime(tm); got != s {
			t.Fatalf("parseTime accepted %q, which formats back as %q", s, got)
		}
	})
}
