package digest

import (
	"testing"
	"time"
)

// TestDayAt is when a reader is due, for which local day, across a
// spring-forward gap, a fall-back fold, midnight and a month's end.
func TestDayAt(t *testing.T) {
	tests := []struct {
		name     string
		zone     string
		send     string
		now      string
		wantDate Date
		wantSend string // SendAt, in UTC
		wantDue  bool
		wantNext string // Next, in UTC
	}{
		{"before the send time", "Africa/Lagos", "07:00", "2026-11-26T05:30:00Z", "2026-11-26", "2026-11-26T06:00:00Z", false, "2026-11-26T06:00:00Z"},
		{"exactly the send time", "UTC", "05:30", "2026-11-26T05:30:00Z", "2026-11-26", "2026-11-26T05:30:00Z", true, "2026-11-26T05:30:00Z"},
		{"after it: due, and the next one is tomorrow", "Africa/Lagos", "06:00", "2026-11-26T05:30:00Z", "2026-11-26", "2026-11-26T05:00:00Z", true, "2026-11-27T05:00:00Z"},
		{"ahead of UTC: already the next local day", "Asia/Tokyo", "06:00", "2026-11-26T22:00:00Z", "2026-11-27", "2026-11-26T21:00:00Z", true, "2026-11-27T21:00:00Z"},
		{"behind UTC: still the day before", "Pacific/Honolulu", "06:00", "2026-11-26T09:30:00Z", "2026-11-25", "2026-11-25T16:00:00Z", true, "2026-11-26T16:00:00Z"},
		// 2026-03-08: New York springs forward, 02:00 EST → 03:00 EDT.
		{"in the spring-forward gap: an hour later", "America/New_York", "02:30", "2026-03-08T05:30:00Z", "2026-03-08", "2026-03-08T07:30:00Z", false, "2026-03-08T07:30:00Z"},
		{"the day before the gap: tomorrow's falls in it", "America/New_York", "02:30", "2026-03-07T08:00:00Z", "2026-03-07", "2026-03-07T07:30:00Z", true, "2026-03-08T07:30:00Z"},
		// 2026-11-01: New York falls back, 02:00 EDT → 01:00 EST.
		{"in the fall-back fold: the first 01:30", "America/New_York", "01:30", "2026-11-01T05:00:00Z", "2026-11-01", "2026-11-01T05:30:00Z", false, "2026-11-01T05:30:00Z"},
		{"the second 01:30 is not a second send", "America/New_York", "01:30", "2026-11-01T06:30:00Z", "2026-11-01", "2026-11-01T05:30:00Z", true, "2026-11-02T06:30:00Z"},
		{"a month's end", "Europe/Brussels", "07:00", "2026-01-31T08:00:00Z", "2026-01-31", "2026-01-31T06:00:00Z", true, "2026-02-01T06:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loc, err := time.LoadLocation(tt.zone)
			if err != nil {
				t.Fatal(err)
			}
			send, err := ParseTimeOfDay(tt.send)
			if err != nil {
				t.Fatal(err)
			}
			now := mustTime(t, tt.now)
			d := send.DayAt(now, loc)
			if d.Date != tt.wantDate || !d.SendAt.Equal(mustTime(t, tt.wantSend)) || d.Due() != tt.wantDue {
				t.Errorf("DayAt = %s, send at %s, due %v; want %s, %s, %v",
					d.Date, d.SendAt.UTC().Format(time.RFC3339), d.Due(), tt.wantDate, tt.wantSend, tt.wantDue)
			}
			if !d.Local.Equal(now) || d.Local.Location() != loc || d.SendAt.Location() != loc {
				t.Errorf("DayAt's instants %v, %v: want now and the send time in %s", d.Local, d.SendAt, tt.zone)
			}
			if next := d.Next(); !next.Equal(mustTime(t, tt.wantNext)) {
				t.Errorf("Next = %s, want %s", next.UTC().Format(time.RFC3339), tt.wantNext)
			}
		})
	}
}
