package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
)

// What commands print, in every form: JSON, tables, colours, messages for
// people and progress bars. Data goes to stdout; messages for people and
// progress go to stderr, or are left out with --quiet.

// checkFormat refuses a --format value that is not one of allowed.
func checkFormat(format string, allowed ...string) error {
	if slices.Contains(allowed, format) {
		return nil
	}
	return usageError{fmt.Errorf("--format: %q is not one of %s", format, strings.Join(allowed, ", "))}
}

// writeJSON writes v as indented JSON, the form of every --format json.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// say prints a confirmation for people, unless --quiet.
func (a *app) say(format string, args ...any) {
	if !a.quiet {
		fmt.Fprintf(a.stdout, format, args...)
	}
}

// noteErr prints a message for people on stderr, unless --quiet.
func (a *app) noteErr(format string, args ...any) {
	if !a.quiet {
		fmt.Fprintf(a.stderr, format, args...)
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Colours mark outcomes in tables for people at a terminal; never in pipes
// or files, and never when NO_COLOR is set (https://no-color.org).
const (
	ansiRed     = "\x1b[31m"
	ansiGreen   = "\x1b[32m"
	ansiYellow  = "\x1b[33m"
	ansiDefault = "\x1b[39m" // same length as the others, so tabwriter columns stay aligned
	ansiReset   = "\x1b[0m"
)

// colorOK reports whether stdout gets colours.
func (a *app) colorOK() bool {
	if _, set := a.getenv("NO_COLOR"); set {
		return false
	}
	return isTerminal(a.stdout)
}

// colorStatus colours a delivery state or pass outcome by how it went.
// Every value of a column gets an escape of the same length, so that
// tabwriter, which counts the escape bytes as width, keeps the column
// aligned.
func (a *app) colorStatus(s string) string {
	if !a.colorOK() {
		return s
	}
	c := ansiDefault
	switch s {
	case "sent", "active":
		c = ansiGreen
	case "failed", "bounced", "expired", "UNREADABLE":
		c = ansiRed
	case "deferred", "interrupted", "waiting", "queued", "sending", "pending", "suppressed", "unsubscribed":
		c = ansiYellow
	}
	return c + s + ansiReset
}

// progressBar returns a progress bar on stderr when it is a terminal, the
// work is large enough to be worth one (show), and --quiet is off; nil
// otherwise. total -1 draws a spinner.
func (a *app) progressBar(total int64, show bool, desc string, bytes bool) *progressbar.ProgressBar {
	if a.quiet || !isTerminal(a.stderr) || (!show && total >= 0) {
		return nil
	}
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(a.stderr),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionShowCount(),
		progressbar.OptionClearOnFinish(),
	}
	if bytes {
		opts = append(opts, progressbar.OptionShowBytes(true))
	} else {
		opts = append(opts, progressbar.OptionShowIts(), progressbar.OptionSetItsString("rows"))
	}
	return progressbar.NewOptions64(total, opts...)
}

func finishProgress(bar *progressbar.ProgressBar) {
	if bar != nil {
		_ = bar.Finish()
	}
}

// newTable starts a table on w: columns two spaces apart, the layout of
// every table the commands print.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

// Cells of tables and text reports.

// dash is s, or "-" for an empty cell.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// timeOrDash is t in RFC 3339, UTC, or "-" for the zero time.
func timeOrDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// optTime is t in UTC for an optional JSON field: nil for the zero time.
func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// truncate shortens s to n characters, the last one an ellipsis.
func truncate(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// plural is "1 noun" or "N nouns".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func pluralS(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func pluralES(n int) string {
	if n == 1 {
		return ""
	}
	return "es"
}

func itOrThem(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

// humanBytes formats a size for people, in decimal units with one decimal
// place ("12.3 MB").
func humanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

// atomicFile is written under a temporary name beside its path and renamed
// to it by Commit, so that a reader of the path never sees half a file and
// a failed write leaves nothing under the name.
type atomicFile struct {
	*os.File
	path string
	done bool
}

// createAtomic starts writing path, with the permissions perm.
func createAtomic(path string, perm os.FileMode) (*atomicFile, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return &atomicFile{File: f, path: path}, nil
}

// Commit puts the file in place.
func (f *atomicFile) Commit() error {
	if f.done {
		return nil
	}
	f.done = true
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), f.path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// Abort removes the file, unless it was committed.
func (f *atomicFile) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.Close()
	os.Remove(f.Name())
}

// writeFileAtomic writes data to path as an atomicFile.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := createAtomic(path, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Abort()
		return err
	}
	return f.Commit()
}
