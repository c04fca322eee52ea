package main

import (
	"fmt"

	"github.com/newsroom/digest/internal/subscribers"
)

// What an import reports: problems with the file, notes about rows it
// skipped, and the closing count.

// countRecords counts the records with at least one problem.
func countRecords(problems []subscribers.Problem) int {
	n, last := 0, -1
	for _, p := range problems {
		if p.Line != last {
			n, last = n+1, p.Line
		}
	}
	return n
}

// printProblems prints the first maxImportListed problems to stderr.
func (a *app) printProblems(problems []subscribers.Problem, records int) {
	for i, p := range problems {
		if i == maxImportListed {
			fmt.Fprintf(a.stderr, "... and %d more problem%s (%d invalid record%s in all)\n",
				len(problems)-maxImportListed, pluralS(len(problems)-maxImportListed), records, pluralS(records))
			break
		}
		fmt.Fprintln(a.stderr, p.Error())
	}
}

// printNotes explains, on stderr, each row an import skipped or would skip
// because of what the database holds (the first maxImportListed of them).
func (a *app) printNotes(name string, outcomes []subscribers.ImportOutcome) {
	if a.quiet {
		return
	}
	n := 0
	for _, o := range outcomes {
		note := skipReason(o)
		if note == "" {
			continue
		}
		if n++; n <= maxImportListed {
			fmt.Fprintf(a.stderr, "%s:%d: email: %s\n", name, o.Line, note)
		}
	}
	if n > maxImportListed {
		fmt.Fprintf(a.stderr, "... and %d more address%s already present\n", n-maxImportListed, pluralES(n-maxImportListed))
	}
}

// skipReason says why a row was skipped; "" when it was not, or when it
// was already exactly as the row says.
func skipReason(o subscribers.ImportOutcome) string {
	switch o.Action {
	case subscribers.ImportSkipExisting:
		return fmt.Sprintf("already subscribed (%s); --update-existing updates name, regions, timezone and send time", o.Was)
	case subscribers.ImportSkipInactive:
		switch {
		case o.Erased:
			return "erased on request; an import never re-adds it ('digest subscribers unsuppress' it first)"
		case o.Suppressed != "":
			return fmt.Sprintf("suppressed (%s); not resubscribed without --resubscribe", o.Suppressed)
		}
		return fmt.Sprintf("%s; not resubscribed without --resubscribe", o.Was)
	}
	return ""
}

// importSummary is the closing count of an import.
func importSummary(res subscribers.ImportResult, refused int) string {
	return fmt.Sprintf("created %d, updated %d, skipped %d (already present), refused %d (invalid)",
		res.Created, res.Updated, res.Unchanged+res.Skipped, refused)
}
