package digest

import (
	"fmt"
	"strings"
	"time"
)

// SubscriberStatus is where a subscriber stands; only active subscribers get digests.
type SubscriberStatus string

// Subscriber statuses.
const (
	StatusPending      SubscriberStatus = "pending"
	StatusActive       SubscriberStatus = "active"
	StatusUnsubscribed SubscriberStatus = "unsubscribed"
	StatusBounced      SubscriberStatus = "bounced"
	// StatusExpired: never confirmed a double opt-in in time; mailed no
	// more, and free to sign up again.
	StatusExpired SubscriberStatus = "expired"
)

// SubscriberStatuses lists every status.
var SubscriberStatuses = []SubscriberStatus{StatusPending, StatusActive, StatusUnsubscribed, StatusBounced, StatusExpired}

// Valid reports whether s is one of the known statuses.
func (s SubscriberStatus) Valid() bool {
	switch s {
	case StatusPending, StatusActive, StatusUnsubscribed, StatusBounced, StatusExpired:
		return true
	}
	return false
}

// Subscriber is a reader of the digest.
type Subscriber struct {
	ID       int64
	Email    string // unique, compared case-insensitively
	Name     string
	Regions  []string // region codes, the reader's preferred order
	TimeZone string   // IANA zone; the first region's when not given
	SendTime TimeOfDay
	Status   SubscriberStatus
	// Watermark is the cut-off of the last digest sent: the next digest
	// carries briefs published after it. Zero before the first digest.
	Watermark time.Time
	Consent   Consent
	CreatedAt time.Time
	UpdatedAt time.Time
}

// EmailKey is what makes two addresses one reader: they have the same key.
// The key is the address in Unicode lower case, not only ASCII, so
// ÄNNE@example.com and änne@example.com are one reader. Unicode
// normalisation is not applied: a precomposed "ä" and "a" + combining
// diaeresis are different keys. Storage keeps the key beside the address
// to look it up, so changing this rule needs a migration that recomputes
// the stored keys.
func EmailKey(email string) string { return strings.ToLower(email) }

// Consent records how and when a subscriber agreed to be mailed: what an
// operator shows a regulator or a reader who asks.
type Consent struct {
	Source      string    // how they joined: "cli", "import:readers.csv", "web"
	At          time.Time // when they agreed (for double opt-in: when they confirmed)
	IP          string    // where known
	UserAgent   string    // where known
	TextVersion string    // the version of the consent wording they saw, where known
	// ConfirmedAt is when a double opt-in was confirmed; zero when it
	// was not needed or has not happened.
	ConfirmedAt time.Time
}

// TimeOfDay is a wall-clock time in some zone, to the minute.
type TimeOfDay struct {
	Hour, Minute int
}

// ParseTimeOfDay parses "HH:MM" (24-hour).
func ParseTimeOfDay(s string) (TimeOfDay, error) {
	var t TimeOfDay
	if len(s) != 5 || s[2] != ':' {
		return t, fmt.Errorf("%q is not a time of day in HH:MM form", s)
	}
	for _, c := range s[:2] + s[3:] {
		if c < '0' || c > '9' {
			return t, fmt.Errorf("%q is not a time of day in HH:MM form", s)
		}
	}
	t.Hour = int(s[0]-'0')*10 + int(s[1]-'0')
	t.Minute = int(s[3]-'0')*10 + int(s[4]-'0')
	if t.Hour > 23 || t.Minute > 59 {
		return TimeOfDay{}, fmt.Errorf("%q is not a time of day between 00:00 and 23:59", s)
	}
	return t, nil
}

// String formats t as "HH:MM".
func (t TimeOfDay) String() string { return fmt.Sprintf("%02d:%02d", t.Hour, t.Minute) }

// On returns the instant at which the wall clock in loc shows t on the given
// calendar day. When t falls in a spring-forward gap it returns t shifted by
// the size of the gap (02:30 becomes 03:30 in New York); when t happens twice
// (fall back) it returns the first. Either way it is one instant per day, so a
// reader is due exactly once.
func (t TimeOfDay) On(year int, month time.Month, day int, loc *time.Location) time.Time {
	at := time.Date(year, month, day, t.Hour, t.Minute, 0, 0, loc)
	// Inside a gap time.Date keeps the offset in effect before the jump, and
	// the wall clock it lands on reads earlier than t: sending then would be
	// early, so move forward by the difference.
	if h, m, _ := at.Clock(); at.Day() == day && h*60+m < t.Hour*60+t.Minute {
		at = at.Add(time.Duration(t.Hour*60+t.Minute-h*60-m) * time.Minute)
	}
	return at
}

// Date is a calendar day in some zone, written YYYY-MM-DD.
type Date string

// DateOf returns the calendar day of t in t's location.
func DateOf(t time.Time) Date { return Date(t.Format(time.DateOnly)) }
