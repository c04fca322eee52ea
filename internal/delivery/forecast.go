package delivery

import (
	"time"

	digest "github.com/newsroom/digest"
)

// DueForecast is how many active readers fall due in each of the coming
// hours.
type DueForecast struct {
	// From is the instant the forecast starts; Hours[i] counts the readers
	// whose next send time is in [From+i h, From+(i+1) h).
	From  time.Time
	Hours []int
	// BadZones counts readers whose time zone cannot be loaded: no pass
	// can send to them.
	BadZones int
}

// ForecastDue counts, for each of the next hours hours from now, the
// readers whose next send time falls in it: their send time on their
// local day at now, or on the next local day when that has passed
// (digest.SendDay.Next), the rule a pass applies. It works on slots of
// readers who share a zone and a send time (sqlite.DB.SendSlots), so its
// cost grows with the distinct zones and send times, not the readers.
func ForecastDue(slots []digest.SendSlot, now time.Time, hours int) DueForecast {
	f := DueForecast{From: now.UTC(), Hours: make([]int, hours)}
	zones := map[string]*time.Location{}
	for _, s := range slots {
		loc, ok := zones[s.TimeZone]
		if !ok {
			loc, _ = time.LoadLocation(s.TimeZone) // nil when it cannot be loaded
			zones[s.TimeZone] = loc
		}
		if loc == nil {
			f.BadZones += s.Readers
			continue
		}
		next := s.SendTime.DayAt(now, loc).Next()
		if h := int(next.Sub(now) / time.Hour); h >= 0 && h < hours {
			f.Hours[h] += s.Readers
		}
	}
	return f
}
