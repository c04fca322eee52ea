package sqlite

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Lists of keys are passed to SQL as one JSON array parameter and expanded
// with json_each, so a query has a fixed text whatever the list's length and
// never meets SQLite's limit on bound parameters.

// int64sJSON returns ids as a compact JSON array ("[3,1,2]"; "[]" when
// there are none). It is also how a delivery's brief ids are stored in
// deliveries.brief_ids, which SQL reads with json_each and Go with
// parseIDList.
func int64sJSON(ids []int64) string {
	if ids == nil {
		ids = []int64{}
	}
	// Marshalling a []int64 cannot fail.
	b, _ := json.Marshal(ids)
	return string(b)
}

// stringsJSON returns ss as a JSON array.
func stringsJSON(ss []string) string {
	if ss == nil {
		ss = []string{}
	}
	// Marshalling a []string cannot fail (invalid UTF-8 is replaced, not
	// refused), so there is no error to report.
	b, _ := json.Marshal(ss)
	return string(b)
}

// conditions collects the WHERE clause of a list query from the filter
// fields that are set, so SQLite sees only real conditions and can pick an
// index for them. A fixed query with "status = ?1 OR ?1 IS empty" terms
// would force a full scan.
type conditions struct {
	terms []string
	args  []any
}

// add appends one condition with its arguments.
func (c *conditions) add(term string, args ...any) {
	c.terms = append(c.terms, term)
	c.args = append(c.args, args...)
}

// where returns the WHERE clause, or "" when there are no conditions.
func (c *conditions) where() string {
	if len(c.terms) == 0 {
		return ""
	}
	return "WHERE " + strings.Join(c.terms, " AND ")
}

// parseIDList parses a JSON array of integers, as int64sJSON writes it
// (whitespace between tokens allowed, as SQLite's JSON functions or a hand
// edit may leave it). It is on the hot read paths (every claimed delivery,
// every sent delivery a pass plans against), where encoding/json's
// reflection cost several times more; FuzzParseIDList holds the two to the
// same answers.
func parseIDList(s string) ([]int64, error) {
	i := skipSpace(s, 0)
	if i == len(s) || s[i] != '[' {
		return nil, fmt.Errorf("brief ids %q: not a JSON array", s)
	}
	i = skipSpace(s, i+1)
	var ids []int64
	if i < len(s) && s[i] == ']' {
		if skipSpace(s, i+1) != len(s) {
			return nil, fmt.Errorf("brief ids %q: text after the array", s)
		}
		return ids, nil
	}
	for {
		start := i
		if i < len(s) && s[i] == '-' {
			i++
		}
		digits := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		// JSON numbers have no leading zeros: "01" is not one.
		if i == digits || (s[digits] == '0' && i-digits > 1) {
			return nil, fmt.Errorf("brief ids %q: element %d is not an integer", s, len(ids))
		}
		id, err := strconv.ParseInt(s[start:i], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("brief ids %q: element %d: %w", s, len(ids), err)
		}
		ids = append(ids, id)
		i = skipSpace(s, i)
		switch {
		case i < len(s) && s[i] == ',':
			i = skipSpace(s, i+1)
		case i < len(s) && s[i] == ']':
			if skipSpace(s, i+1) != len(s) {
				return nil, fmt.Errorf("brief ids %q: text after the array", s)
			}
			return ids, nil
		default:
			return nil, fmt.Errorf("brief ids %q: element %d is not an integer", s, len(ids))
		}
	}
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}
