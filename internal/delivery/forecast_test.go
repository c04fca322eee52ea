package delivery

import (
	"fmt"
	"testing"
	"time"

	digest "github.com/newsroom/digest"
)

// The forecast counts readers by the hour of their next send time, DST gap
// included, and counts apart the readers whose zone cannot be loaded.
func TestForecastDue(t *testing.T) {
	// 2026-03-08 is the day New York springs forward (02:00 → 03:00 EDT).
	now := time.Date(2026, 3, 8, 5, 30, 0, 0, time.UTC) // 00:30 EST in New York
	slot := func(zone, send string, readers int) digest.SendSlot {
		st, err := digest.ParseTimeOfDay(send)
		if err != nil {
			t.Fatal(err)
		}
		return digest.SendSlot{TimeZone: zone, SendTime: st, Readers: readers}
	}
	f := ForecastDue([]digest.SendSlot{
		slot("Africa/Lagos", "07:00", 2),     // 06:30 local now → due 06:00Z: hour 0
		slot("Africa/Lagos", "06:00", 1),     // passed at 05:00Z → tomorrow 05:00Z: hour 23
		slot("America/New_York", "02:30", 1), // in the gap: 03:30 EDT = 07:30Z: hour 2
		slot("Asia/Tokyo", "06:00", 1),       // 14:30 local → tomorrow 21:00Z: hour 15
		slot("UTC", "05:30", 1),              // exactly now: hour 0
		slot("Mars/Olympus", "08:00", 1),     // unusable zone
	}, now, 24)
	want := make([]int, 24)
	want[0], want[2], want[15], want[23] = 3, 1, 1, 1
	if fmt.Sprint(f.Hours) != fmt.Sprint(want) || f.BadZones != 1 || !f.From.Equal(now) {
		t.Errorf("forecast from %v = %v (bad zones %d)\nwant %v (bad zones 1)", f.From, f.Hours, f.BadZones, want)
	}
}
