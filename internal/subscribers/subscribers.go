// Package subscribers owns the rules a new subscriber must meet: a plain
// deliverable-looking address, known regions, a real time zone and a time
// of day. New turns what an operator typed (flags, an import file, a form)
// into a normalised digest.Subscriber, reporting every problem at once, so
// nothing half-valid reaches the database. It also owns imports: reading
// files (CSV, JSON lines) into validated rows, and the rule of what an
// import does with each row against what the store already holds (Import,
// over the ImportStore it declares); and it writes exports.
package subscribers

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	digest "github.com/newsroom/digest"
)

// maxName is the longest display name accepted, in characters.
const maxName = 200

// Input is a subscriber as typed. Every field but Email and Regions is
// optional.
type Input struct {
	Email    string
	Name     string
	Regions  []string // region codes, in the reader's order
	TimeZone string   // IANA zone; default: the first region's
	SendTime string   // "HH:MM"; default: Defaults.SendTime
	Status   digest.SubscriberStatus
}

// Defaults are the configured values New falls back on and checks against.
type Defaults struct {
	SendTime digest.TimeOfDay
	Regions  digest.Regions // the configured regions
}

// New validates in and returns the subscriber it describes, normalised:
// text trimmed, the address normalised as by ValidateEmail, defaults
// applied (time zone of the first region, Defaults.SendTime, status
// active). The subscriber has no ID or timestamps yet.
//
// The error joins one *digest.FieldError per problem, with Record the
// email as typed and Field the command-line flag the value came from
// ("email", "name", "regions", "timezone", "send-time", "status").
func New(in Input, d Defaults) (digest.Subscriber, error) {
	record := recordOf(in.Email)
	var errs []error
	fail := func(field, format string, args ...any) {
		errs = append(errs, &digest.FieldError{Record: record, Field: field, Reason: fmt.Sprintf(format, args...)})
	}

	s := digest.Subscriber{Status: digest.StatusActive, SendTime: d.SendTime}
	if email, reason := normaliseEmail(in.Email); reason != "" {
		fail("email", "%s", reason)
	} else {
		s.Email = email
	}
	if name, reason := checkName(in.Name); reason != "" {
		fail("name", "%s", reason)
	} else {
		s.Name = name
	}
	regions, reasons := checkRegions(in.Regions, d.Regions)
	for _, reason := range reasons {
		fail("regions", "%s", reason)
	}
	s.Regions = regions

	switch tz := strings.TrimSpace(in.TimeZone); {
	case tz == "" && len(reasons) == 0:
		r, _ := d.Regions.Lookup(regions[0])
		s.TimeZone = r.TimeZone
	case tz == "":
		// No region to take the zone from; the regions error says why.
	case tz == "Local":
		fail("timezone", "%q is not allowed: name an IANA zone such as Europe/Brussels", tz)
	default:
		if _, err := time.LoadLocation(tz); err != nil {
			fail("timezone", "unknown time zone %q (use an IANA name such as Europe/Brussels)", tz)
		} else {
			s.TimeZone = tz
		}
	}

	if st := strings.TrimSpace(in.SendTime); st != "" {
		t, err := digest.ParseTimeOfDay(st)
		if err != nil {
			fail("send-time", "%v", err)
		}
		s.SendTime = t
	}

	if in.Status != "" {
		if !in.Status.Valid() {
			names := make([]string, len(digest.SubscriberStatuses))
			for i, st := range digest.SubscriberStatuses {
				names[i] = string(st)
			}
			fail("status", "unknown status %q (one of %s)", in.Status, strings.Join(names, ", "))
		}
		s.Status = in.Status
	}

	if len(errs) > 0 {
		return digest.Subscriber{}, errors.Join(errs...)
	}
	return s, nil
}

func checkName(name string) (string, string) {
	name = strings.TrimSpace(name)
	switch {
	case !utf8.ValidString(name):
		return "", "is not valid UTF-8 text"
	case hasControl(name):
		return "", "must be one line without control characters"
	case utf8.RuneCountInString(name) > maxName:
		return "", fmt.Sprintf("is %d characters long; the limit is %d", utf8.RuneCountInString(name), maxName)
	}
	return name, ""
}

// checkRegions returns the codes trimmed, in the order given, and every
// problem with them.
func checkRegions(codes []string, known digest.Regions) ([]string, []string) {
	knownList := strings.Join(known.Codes(), ", ")
	if len(codes) == 0 {
		return nil, []string{fmt.Sprintf("at least one region is required (known: %s)", knownList)}
	}
	var problems []string
	out := make([]string, 0, len(codes))
	seen := map[string]bool{}
	for _, c := range codes {
		c = strings.TrimSpace(c)
		switch _, ok := known.Lookup(c); {
		case c == "":
			problems = append(problems, "has an empty region code")
		case !ok:
			problems = append(problems, fmt.Sprintf("unknown region %q (known: %s)", c, knownList))
		case seen[c]:
			problems = append(problems, fmt.Sprintf("lists %q twice", c))
		default:
			seen[c] = true
			out = append(out, c)
		}
	}
	return out, problems
}

// recordOf names a subscriber in errors by the address as typed, quoted
// when it holds characters that would break or forge a log line.
func recordOf(email string) string {
	if hasControl(email) || !utf8.ValidString(email) {
		return strconv.Quote(email)
	}
	return email
}

// hasControl reports whether s has a control character, including the
// Unicode line and paragraph separators.
func hasControl(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
	}) >= 0
}
