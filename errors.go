package digest

import (
	"errors"
	"fmt"
)

// Sentinel errors that cross package boundaries. Layers wrap them with %w so
// callers can test with errors.Is without matching text.
var (
	// ErrNotFound means the record asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a record with the same unique key already exists.
	ErrConflict = errors.New("already exists")
)

// FieldError reports one invalid field of one record, so that an operator can
// find and fix it: "brief moscow-weighs-washington: region: unknown region "dcc"".
type FieldError struct {
	Record string // what the record is: a slug, an email address, a file name
	Field  string // the field, as the user spells it (front-matter key, flag, config key)
	Reason string
}

func (e *FieldError) Error() string {
	switch {
	case e.Record == "" && e.Field == "":
		return e.Reason
	case e.Record == "":
		return fmt.Sprintf("%s: %s", e.Field, e.Reason)
	case e.Field == "":
		return fmt.Sprintf("%s: %s", e.Record, e.Reason)
	}
	return fmt.Sprintf("%s: %s: %s", e.Record, e.Field, e.Reason)
}

// Invalid returns a *FieldError.
func Invalid(record, field, format string, args ...any) error {
	return &FieldError{Record: record, Field: field, Reason: fmt.Sprintf(format, args...)}
}
