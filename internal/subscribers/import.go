package subscribers

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	digest "github.com/newsroom/digest"
)

// Format is the encoding of an import or export file.
type Format string

// Formats.
const (
	// CSV is RFC 4180 with a header row.
	CSV Format = "csv"
	// JSONLines is one JSON object per line (https://jsonlines.org).
	JSONLines Format = "jsonl"
)

// FormatFor returns the format a file name implies: JSON lines for .jsonl
// and .ndjson, CSV otherwise.
func FormatFor(name string) Format {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jsonl", ".ndjson":
		return JSONLines
	}
	return CSV
}

// Columns an import reads, in the order an export writes them.
var importColumns = []string{"email", "name", "regions", "timezone", "send_time", "status"}

// exportOnlyColumns are written by an export for people to read and
// accepted by an import without --ignore-columns, so that an export
// imports again as it is; their values are not imported (an imported
// subscriber's consent is the import).
var exportOnlyColumns = []string{"created_at", "consent_source"}

// ImportOptions configure ReadImport.
type ImportOptions struct {
	// File names the input in problems ("readers.csv:3: ...").
	File   string
	Format Format
	// IgnoreColumns skips columns (CSV) and keys (JSON lines) an import
	// does not know, instead of refusing the file.
	IgnoreColumns bool
	// Defaults are the configured send time and regions each row is
	// checked against.
	Defaults Defaults
}

// Row is one valid record of an import file.
type Row struct {
	// Line is the line of the file on which the record starts.
	Line int
	// Subscriber is the record validated by New, defaults applied.
	Subscriber digest.Subscriber
	// Which optional fields the record gave a value for, so that an
	// update changes only those.
	HasName, HasTimeZone, HasSendTime, HasStatus bool
}

// Problem is one problem with one record of an import file.
type Problem struct {
	File   string
	Line   int    // the line on which the record starts
	Column string // the column or key, as an import names it; "" for the record as a whole
	Reason string
}

// Error formats p as FILE:LINE: COLUMN: REASON, the form editors and
// compilers use, so an operator can jump to the line.
func (p Problem) Error() string {
	if p.Column == "" {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Reason)
	}
	return fmt.Sprintf("%s:%d: %s: %s", p.File, p.Line, p.Column, p.Reason)
}

// ReadImport reads an import file: CSV with a header row naming the
// columns, or JSON lines with the same keys. It validates every record
// with New and reports records whose address another record already used
// ("duplicate of line 12"). It calls each with every valid row, in file
// order, as it goes (so a caller keeps rows in whatever form suits it,
// without one huge slice being grown and copied), and returns every
// problem, in file order.
//
// The error is for a file that cannot be read as a whole: a failing
// reader, or a header (CSV) with a missing email column or unknown
// columns; the problems are then those of the header.
func ReadImport(r io.Reader, opts ImportOptions, each func(Row)) ([]Problem, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	// A byte order mark is how some editors (Excel) say "UTF-8"; it is
	// not part of the first column's name.
	if bom, err := br.Peek(3); err == nil && bytes.Equal(bom, []byte("\uFEFF")) {
		br.Discard(3)
	}
	d := &decoder{opts: opts, each: each, seen: map[string]int{}}
	var err error
	switch opts.Format {
	case CSV, "":
		err = d.readCSV(br)
	case JSONLines:
		err = d.readJSONLines(br)
	default:
		err = fmt.Errorf("import %s: unknown format %q (csv or jsonl)", opts.File, opts.Format)
	}
	if err != nil {
		return nil, err
	}
	return d.problems, nil
}

// decoder collects the rows and problems of one file.
type decoder struct {
	opts     ImportOptions
	each     func(Row)
	problems []Problem
	seen     map[string]int // address key -> line of its first record
}

func (d *decoder) problem(line int, column, format string, args ...any) {
	d.problems = append(d.problems, Problem{File: d.opts.File, Line: line, Column: column, Reason: shorten(fmt.Sprintf(format, args...))})
}

// maxReason bounds a reason's length: reasons quote what was typed, and a
// megabyte-long cell must not become a megabyte-long error line.
const maxReason = 300

func shorten(s string) string {
	if len(s) <= maxReason {
		return s
	}
	cut := maxReason
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("… (%d bytes in all)", len(s))
}

// record is one record as read, before validation.
type record struct {
	line     int
	in       Input
	regions  string // CSV: the regions cell, split by add
	has      map[string]bool
	problems int             // problems found while reading it (bad UTF-8, wrong types)
	bad      map[string]bool // columns already reported while reading it
}

// fail notes a problem found while reading column c of rec, so that New's
// complaint about the value then missing is not reported as well.
func (d *decoder) fail(rec *record, c, format string, args ...any) {
	d.problem(rec.line, c, format, args...)
	rec.problems++
	if rec.bad == nil {
		rec.bad = map[string]bool{}
	}
	rec.bad[c] = true
}

// add validates rec with New and keeps it as a row or as problems.
func (d *decoder) add(rec *record) {
	before := len(d.problems)
	s, err := New(rec.in, d.opts.Defaults)
	// The address is checked for duplicates on its own, so a record that
	// is wrong in another field still claims its address: fixing it must
	// not reveal a duplicate later. (ValidateEmail only when New failed:
	// it would repeat New's most expensive check on every good row.)
	email := s.Email
	if err != nil {
		email, _ = ValidateEmail(rec.in.Email)
	}
	if email != "" {
		key := digest.EmailKey(email)
		if first, dup := d.seen[key]; dup {
			d.problem(rec.line, "email", "duplicate of line %d", first)
		} else {
			d.seen[key] = rec.line
		}
	}
	if err != nil {
		for _, e := range unjoin(err) {
			var fe *digest.FieldError
			switch {
			case errors.As(e, &fe) && rec.bad[columnOf(fe.Field)]:
			case fe != nil:
				d.problem(rec.line, columnOf(fe.Field), "%s", fe.Reason)
			default:
				d.problem(rec.line, "", "%v", e)
			}
		}
	}
	if len(d.problems) > before || rec.problems > 0 {
		// Problems of one record in column order, whatever found them.
		slices.SortStableFunc(d.problems[before:], func(a, b Problem) int {
			return columnRank(a.Column) - columnRank(b.Column)
		})
		return
	}
	d.each(Row{Line: rec.line, Subscriber: s,
		HasName: rec.has["name"], HasTimeZone: rec.has["timezone"], HasSendTime: rec.has["send_time"], HasStatus: rec.has["status"]})
}

// unjoin returns the errors an errors.Join holds, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// columnOf names New's fields (flag names) as import columns.
func columnOf(field string) string {
	if field == "send-time" {
		return "send_time"
	}
	return field
}

func columnRank(c string) int {
	if i := slices.Index(importColumns, c); i >= 0 {
		return i
	}
	return len(importColumns)
}

// header maps the columns of a file to what they hold, or reports why it
// cannot: a missing email column, an unknown or repeated column.
func (d *decoder) header(line int, names []string) ([]string, error) {
	cols := make([]string, len(names))
	var unknown []string
	var errs []error
	at := map[string]int{}
	for i, n := range names {
		c := strings.ToLower(strings.TrimSpace(n))
		switch {
		case !utf8.ValidString(n):
			errs = append(errs, Problem{d.opts.File, line, "header", fmt.Sprintf("column %d is not valid UTF-8 (save the file as UTF-8)", i+1)})
			continue
		case slices.Contains(importColumns, c) || slices.Contains(exportOnlyColumns, c):
		case d.opts.IgnoreColumns:
			c = ""
		default:
			unknown = append(unknown, fmt.Sprintf("%q", strings.TrimSpace(n)))
			continue
		}
		if c != "" {
			if j, dup := at[c]; dup {
				errs = append(errs, Problem{d.opts.File, line, "header", fmt.Sprintf("column %q appears twice (columns %d and %d)", c, j+1, i+1)})
			}
			at[c] = i
		}
		cols[i] = c
	}
	if len(unknown) > 0 {
		errs = append(errs, Problem{d.opts.File, line, "header", fmt.Sprintf(
			"unknown column%s %s (known: %s; --ignore-columns skips unknown columns)",
			plural(len(unknown)), strings.Join(unknown, ", "), strings.Join(append(slices.Clone(importColumns), exportOnlyColumns...), ", "))})
	}
	if _, ok := at["email"]; !ok && len(errs) == 0 {
		errs = append(errs, Problem{d.opts.File, line, "header", fmt.Sprintf(
			"no email column (the first line must name the columns, e.g. %s)", strings.Join(importColumns, ","))})
	}
	return cols, errors.Join(errs...)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// set stores one value read from column c of rec.
func (rec *record) set(c, v string) {
	if strings.TrimSpace(v) != "" {
		rec.has[c] = true
	}
	switch c {
	case "email":
		rec.in.Email = v
	case "name":
		rec.in.Name = v
	case "regions":
		rec.regions = v
	case "timezone":
		rec.in.TimeZone = v
	case "send_time":
		rec.in.SendTime = v
	case "status":
		rec.in.Status = digest.SubscriberStatus(strings.ToLower(strings.TrimSpace(v)))
	}
}

// splitRegions splits "lagos,bxl" or "lagos; bxl" into codes. Empty items
// (a trailing comma from a spreadsheet) are dropped; no item at all is
// New's "at least one region is required".
func splitRegions(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// readCSV reads an RFC 4180 file: strict quoting, the same number of
// fields in every record, CRLF or LF line ends.
func (d *decoder) readCSV(r io.Reader) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 0 // the header's count, checked on every record
	cr.ReuseRecord = true
	names, err := cr.Read()
	switch {
	case errors.Is(err, io.EOF):
		return Problem{d.opts.File, 1, "", "the file is empty; the first line must name the columns, e.g. " + strings.Join(importColumns, ",")}
	case err != nil:
		return d.csvFatal(err)
	}
	cols, err := d.header(1, names)
	if err != nil {
		return err
	}
	for {
		fields, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe) && errors.Is(pe.Err, csv.ErrFieldCount):
			d.problem(pe.StartLine, "", "has %d fields; the header has %d (quote a field that holds a comma)", len(fields), len(cols))
			continue
		case errors.As(err, &pe):
			d.problem(pe.StartLine, "", "%s", csvReason(pe))
			continue
		case err != nil:
			return d.csvFatal(err)
		}
		line, _ := cr.FieldPos(0)
		rec := &record{line: line, has: map[string]bool{}}
		for i, v := range fields {
			c := cols[i]
			if c == "" || slices.Contains(exportOnlyColumns, c) {
				continue
			}
			if !utf8.ValidString(v) {
				d.fail(rec, c, "is not valid UTF-8 (save the file as UTF-8)")
				continue
			}
			rec.set(c, unneutralise(v))
		}
		rec.in.Regions = splitRegions(rec.regions)
		d.add(rec)
	}
}

// csvReason explains a CSV syntax error without the package's prefix.
func csvReason(pe *csv.ParseError) string {
	where := fmt.Sprintf("line %d, column %d", pe.Line, pe.Column)
	switch {
	case errors.Is(pe.Err, csv.ErrBareQuote):
		return fmt.Sprintf(`a " inside a field that does not start with one (%s): quote the whole field and double the " inside it`, where)
	case errors.Is(pe.Err, csv.ErrQuote):
		return fmt.Sprintf(`a quoted field is not closed, or has text after its closing " (%s)`, where)
	}
	return fmt.Sprintf("%v (%s)", pe.Err, where)
}

// csvFatal reports an error that stops reading: a syntax error in the
// header, or the reader failing.
func (d *decoder) csvFatal(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return Problem{d.opts.File, pe.StartLine, "header", csvReason(pe)}
	}
	return fmt.Errorf("read %s: %w", d.opts.File, err)
}

// readJSONLines reads one JSON object per line; blank lines are skipped.
// An empty file is an empty list (what exporting no one writes), not an
// error: unlike CSV there is no header that must be there.
func (d *decoder) readJSONLines(r *bufio.Reader) error {
	for line := 1; ; line++ {
		b, err := r.ReadBytes('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read %s: %w", d.opts.File, err)
		}
		if t := bytes.TrimSpace(b); len(t) > 0 {
			d.jsonRecord(line, t)
		}
		if err != nil {
			return nil
		}
	}
}

// jsonRecord reads one line of JSON lines.
func (d *decoder) jsonRecord(line int, b []byte) {
	if !utf8.Valid(b) {
		d.problem(line, "", "is not valid UTF-8 (save the file as UTF-8)")
		return
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		d.problem(line, "", "is not a JSON object: %v", jsonReason(err))
		return
	}
	rec := &record{line: line, has: map[string]bool{}}
	var unknown []string
	seen := map[string]bool{}
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		c := strings.ToLower(strings.TrimSpace(k))
		raw := obj[k]
		switch {
		case seen[c]:
			d.fail(rec, c, "appears twice")
			continue
		case c == "regions":
			seen[c] = true
			codes, ok := jsonStrings(raw)
			if !ok {
				d.fail(rec, c, `must be an array of region codes, like ["lagos","bxl"]`)
				continue
			}
			rec.in.Regions = codes
			rec.has[c] = len(codes) > 0
		case slices.Contains(importColumns, c):
			seen[c] = true
			v, ok := jsonString(raw)
			if !ok {
				d.fail(rec, c, "must be a string")
				continue
			}
			rec.set(c, v)
		case slices.Contains(exportOnlyColumns, c), d.opts.IgnoreColumns:
		default:
			unknown = append(unknown, fmt.Sprintf("%q", k))
		}
	}
	if len(unknown) > 0 {
		d.problem(line, "", "unknown key%s %s (known: %s; --ignore-columns skips unknown keys)", plural(len(unknown)),
			strings.Join(unknown, ", "), strings.Join(append(slices.Clone(importColumns), exportOnlyColumns...), ", "))
		rec.problems++
	}
	d.add(rec)
}

// jsonString reads a JSON string; null reads as "".
func jsonString(raw json.RawMessage) (string, bool) {
	if string(raw) == "null" {
		return "", true
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err == nil
}

// jsonStrings reads a JSON array of strings; null reads as none.
func jsonStrings(raw json.RawMessage) ([]string, bool) {
	if string(raw) == "null" {
		return nil, true
	}
	var ss []string
	err := json.Unmarshal(raw, &ss)
	return ss, err == nil
}

// jsonReason shortens encoding/json's messages to what a person can act on.
func jsonReason(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%v at byte %d", se, se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("found a JSON %s", te.Value)
	}
	return err.Error()
}
