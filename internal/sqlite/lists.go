package sqlite

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Lists of keys are passed to SQL as one JSON array parameter and expanded
// with json_each, so a query has a fixed text whatever the list's length and
// never meets SQLite's limit on bound parameters.

// int64sJSON returns ids as a JSON array.
func int64sJSON(ids []int64) string {
	b := make([]byte, 0, 2+8*len(ids))
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, id, 10)
	}
	return string(append(b, ']'))
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
