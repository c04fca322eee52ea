package digest

import "time"

// SendDay is a reader's day as an instant finds it: the reader's local
// calendar day at that instant, and the moment their digest of that day
// falls due. The pass, the status forecast, previews and the preferences
// page all ask this one question, so they cannot disagree on who is due.
type SendDay struct {
	Local  time.Time // the instant, in the reader's zone
	Date   Date      // the reader's calendar day at the instant
	SendAt time.Time // the reader's send time on Date (TimeOfDay.On), in their zone
	send   TimeOfDay
}

// DayAt returns the day of a reader with send time t in zone loc, as the
// instant now finds it.
func (t TimeOfDay) DayAt(now time.Time, loc *time.Location) SendDay {
	local := now.In(loc)
	y, m, d := local.Date()
	return SendDay{Local: local, Date: DateOf(local), SendAt: t.On(y, m, d, loc), send: t}
}

// Due reports whether the reader's send time on Date has come: a pass at
// the instant plans their digest of that day, unless it exists already.
func (d SendDay) Due() bool { return !d.Local.Before(d.SendAt) }

// Next returns the first send time at or after the instant: SendAt, or
// the send time on the following local day when SendAt has passed.
func (d SendDay) Next() time.Time {
	if !d.SendAt.Before(d.Local) {
		return d.SendAt
	}
	// The following calendar day, normalised (On expects a real day: it
	// tells a spring-forward gap by the day it lands on).
	y, m, day := d.Local.Date()
	y, m, day = time.Date(y, m, day+1, 12, 0, 0, 0, time.UTC).Date()
	return d.send.On(y, m, day, d.Local.Location())
}

// SendSlot counts the readers who share a time zone and a send time: when
// they fall due depends on nothing else, so a forecast works on slots, not
// on readers.
type SendSlot struct {
	TimeZone string
	SendTime TimeOfDay
	Readers  int
}
